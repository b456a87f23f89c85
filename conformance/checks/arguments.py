"""Arguments reach the executable exactly as given."""

from psij import JobState

from ..capability import capability, require
from ..context import Context

TRICKY_ARGUMENTS = [
    'plain', 'with space', '  leading and trailing  ', "single'quote", 'double"quote',
    '$HOME', '${PATH}', '$(id)', '`id`', 'back\\slash', 'ends with backslash\\',
    'new\nline', 'tab\there', 'ünïcødé ✓ 日本', '*', '?', '[a]', '', '-n', '--', ';', '&&',
    '|', '>out', '<in', '#hash', '%%', '%j', '!bang', '~', 'a=b', '{a,b}', '\\n',
]


@capability('arguments-verbatim', 'arguments with quotes, spaces, $, newlines and '
            'non-ASCII reach the executable unchanged')
def arguments_verbatim(context: Context) -> None:
    output = context.path('args.bin')
    # printf's %s with a NUL after each argument keeps newlines inside arguments readable.
    script = 'for a; do printf "%s\\000" "$a"; done'
    job = context.submit(context.spec('/bin/sh', ['-c', script, 'sh', *TRICKY_ARGUMENTS],
                                      stdout_path=output))
    status = context.wait_final(job, 120)
    require(status.state == JobState.COMPLETED,
            f'the job ended {status.state} ({status.message})')
    received = output.read_bytes().decode('utf-8', 'replace').split('\0')[:-1]
    for index, wanted in enumerate(TRICKY_ARGUMENTS):
        got = received[index] if index < len(received) else '(missing)'
        require(got == wanted, f'argument {index + 1} should be {wanted!r}; it was {got!r}')
    require(len(received) == len(TRICKY_ARGUMENTS),
            f'{len(TRICKY_ARGUMENTS)} arguments given, {len(received)} received')
