# launcher_lib.sh: functions shared by the psij launcher scripts. Sourced, never run.
#
# Every launcher script is called as
#     bash SCRIPT [--option VALUE]... -- EXECUTABLE [ARGUMENT]...
# Each option value and each word of the job's command is its own argv word and is only ever
# expanded as "$var" or "${array[@]}": nothing is re-parsed by a shell, so spaces, quotes,
# '$', backticks, newlines and empty strings reach the job exactly as given.
#
# Internal state uses lower-case `_psij_` names so that it cannot clash with the job's
# environment (an outer psij job may well have exported PSIJ_RANK and friends).

_psij_lib_directory=${BASH_SOURCE[0]%/*}

_psij_log_file=''
_psij_pre_launch=''
_psij_post_launch=''
_psij_process_count=1
_psij_processes_per_node=''
_psij_stdout=''
_psij_stderr=''
_psij_status_directory=''
_psij_rank_variables=()
_psij_launcher_command=()
_psij_forward_variables=()
_psij_command=()

# Set while a pre_launch or post_launch script is being sourced, so that the EXIT trap can
# tell that script calling `exit` apart from the launcher itself exiting.
_psij_user_script=''
_psij_user_script_path=''
_psij_final_exit_code=0

# The job's exit code, visible (not exported) to the post_launch script.
PSIJ_JOB_EXIT_CODE=''

_psij_error_prefix='PSIJ-LAUNCHER-ERROR: '


# Report that the launcher, not the job, failed: one line in the launcher log (stderr when
# there is no log). The executor looks for these lines to word the job's status message.
psij_launcher_error() {
    local line="$_psij_error_prefix$*" separator
    # One error per line: the executor reads the log line by line, and Python's splitlines
    # also breaks lines at these characters.
    for separator in $'\n' $'\r' $'\v' $'\f' $'\x1c' $'\x1d' $'\x1e'; do
        line=${line//"$separator"/ }
    done
    psij_log_line "$line"
}

# Write a line of diagnostics that is not a failure to the launcher log (or stderr).
psij_log_note() {
    psij_log_line "psij launcher: $*"
}

psij_log_line() {
    if [[ -n $_psij_log_file ]] && printf '%s\n' "$1" 2>/dev/null >>"$_psij_log_file"; then
        return 0
    fi
    printf '%s\n' "$1" >&2
}

# Make the path held by the variable named $1 absolute, so that it keeps its meaning if
# pre_launch changes directory. (`printf -v` rather than `$(...)`, which would drop trailing
# newlines from the path, and costs a fork.)
psij_make_absolute() {
    local path=${!1}
    if [[ -n $path && $path != /* ]]; then
        printf -v "$1" '%s' "$PWD/$path"
    fi
}

# Read the options and the job's command (everything after `--`) into `_psij_` variables.
psij_parse_options() {
    while (( $# > 0 )); do
        if [[ $1 == -- ]]; then
            shift
            _psij_command=("$@")
            psij_make_paths_absolute
            return 0
        fi
        if (( $# < 2 )); then
            psij_launcher_error "internal error: launcher script option '$1' has no value"
            exit 2
        fi
        case $1 in
            --log-file) _psij_log_file=$2 ;;
            --pre-launch) _psij_pre_launch=$2 ;;
            --post-launch) _psij_post_launch=$2 ;;
            --process-count) _psij_process_count=$2 ;;
            --processes-per-node) _psij_processes_per_node=$2 ;;
            --stdout) _psij_stdout=$2 ;;
            --stderr) _psij_stderr=$2 ;;
            --status-directory) _psij_status_directory=$2 ;;
            --rank-variable) _psij_rank_variables+=("$2") ;;
            --launcher-word) _psij_launcher_command+=("$2") ;;
            --forward-variable) _psij_forward_variables+=("$2") ;;
            *)
                psij_launcher_error "internal error: unknown launcher script option '$1'"
                exit 2
                ;;
        esac
        shift 2
    done
    psij_launcher_error "internal error: no '--' before the job's command"
    exit 2
}

psij_make_paths_absolute() {
    local variable
    for variable in _psij_log_file _psij_pre_launch _psij_post_launch _psij_stdout \
            _psij_stderr; do
        psij_make_absolute "$variable"
    done
}

# Run the job's command in a child process. `exec` (rather than running "$@" directly) makes
# sure the program on PATH runs even if its name is a bash builtin or one of our functions.
psij_run_command() {
    ( exec -- "$@" )
}


# --- pre_launch and post_launch ------------------------------------------------------------
#
# The scripts are sourced at the top level of the launcher script (not inside a function) so
# that everything they define, `declare` included, stays visible to the job. A launcher
# script therefore reads:
#
#     psij_begin_user_script pre_launch "$_psij_pre_launch"
#     source "$_psij_pre_launch"
#     psij_end_user_script $?

psij_begin_user_script() {
    _psij_user_script=$1
    _psij_user_script_path=$2
    if [[ ! -e $2 || -d $2 || ! -r $2 ]]; then
        psij_user_script_failed \
            "$1 script '$2' does not exist, is a directory or cannot be read" 1
        exit "$_psij_final_exit_code"
    fi
    # Scripts such as module initialisation read unset variables freely.
    set +u
}

psij_end_user_script() {
    local status=$1
    set -u
    set +e
    if (( status != 0 )); then
        psij_user_script_failed \
            "$_psij_user_script script '$_psij_user_script_path' failed with exit code $status" \
            "$status"
        exit "$_psij_final_exit_code"
    fi
    _psij_user_script=''
}

# Decide the launcher's exit code after a pre/post_launch failure and report it; the caller
# exits with `_psij_final_exit_code`.
psij_user_script_failed() {
    local what=$1 status=$2
    if [[ $_psij_user_script == pre_launch ]]; then
        psij_launcher_error "$what; the job was not started"
        _psij_final_exit_code=$status
    elif [[ $PSIJ_JOB_EXIT_CODE == 0 ]]; then
        psij_launcher_error "$what after the job succeeded"
        _psij_final_exit_code=$status
    else
        # The job's own failure is the more useful thing to report.
        psij_log_note "$what; the job had already failed with exit code $PSIJ_JOB_EXIT_CODE"
        _psij_final_exit_code=$PSIJ_JOB_EXIT_CODE
    fi
    _psij_user_script=''
}

# The EXIT trap of the launcher scripts: catches a pre/post_launch script that calls `exit`
# (or dies under `set -e`) instead of returning, and removes the rank status directory.
psij_on_exit() {
    local status=$?
    if [[ -n $_psij_user_script ]]; then
        set +e
        local what="$_psij_user_script script '$_psij_user_script_path'"
        if (( status == 0 )) && [[ $_psij_user_script == pre_launch ]]; then
            psij_user_script_failed "$what called 'exit 0' instead of returning" 1
        elif (( status == 0 )); then
            _psij_user_script=''
            _psij_final_exit_code=$PSIJ_JOB_EXIT_CODE
        else
            psij_user_script_failed "$what exited with code $status" "$status"
        fi
        status=$_psij_final_exit_code
    fi
    if [[ -n $_psij_status_directory ]]; then
        rm -rf -- "$_psij_status_directory"
    fi
    exit "$status"
}


# --- ranks started by a parallel launcher (mpirun, srun, aprun, jsrun) ---------------------
#
# Each rank runs through rank_wrapper.sh, which appends the rank's output to the job's files
# and records the rank's exit code in a status directory. The parallel launcher's own output
# goes to the launcher log, never into the job's output. Afterwards, the recorded exit codes
# tell a failed job (some rank exited non-zero) from a failed launcher (no rank ever ran).

# The directory where ranks record their exit codes. Ranks may run on other nodes, so it is
# made next to the launcher log or in the job's directory (usually shared file systems),
# and only in the local temporary directory when neither is writable.
psij_make_status_directory() {
    local parent=$PWD
    if [[ -n $_psij_log_file ]]; then
        parent=${_psij_log_file%/*}
        parent=${parent:-/}
    fi
    _psij_status_directory=$(mktemp -d "$parent/.psij-ranks.XXXXXX" 2>/dev/null) \
        || _psij_status_directory=$(mktemp -d "${TMPDIR:-/tmp}/psij-ranks.XXXXXX") \
        || {
            _psij_status_directory=''
            psij_launcher_error "could not create a directory for the ranks' exit codes"
            exit 1
        }
}

# The job's stdout and stderr are reopened for appending because the ranks append to the
# same files through their own descriptors: writing through the descriptor the executor
# opened (at offset 0) would overwrite the ranks' output.
psij_reopen_output_for_appending() {
    if [[ -n $_psij_stdout ]]; then
        exec >>"$_psij_stdout"
    fi
    if [[ -n $_psij_stderr ]]; then
        exec 2>>"$_psij_stderr"
    fi
}

# Run the launcher command "$@" (e.g. srun -n 4) with every rank wrapped, and set
# PSIJ_JOB_EXIT_CODE; on a launcher failure, report it and exit (post_launch is not run:
# no process of the job ran).
psij_run_ranks() {
    local launcher_name=${1##*/}
    psij_make_status_directory
    local wrapper=(
        bash "$_psij_lib_directory/rank_wrapper.sh"
        --status-directory "$_psij_status_directory"
        --log-file "$_psij_log_file"
        --process-count "$_psij_process_count"
    )
    local variable
    for variable in "${_psij_rank_variables[@]}"; do
        wrapper+=(--rank-variable "$variable")
    done
    if [[ -n $_psij_stdout ]]; then
        wrapper+=(--stdout "$_psij_stdout")
    fi
    if [[ -n $_psij_stderr ]]; then
        wrapper+=(--stderr "$_psij_stderr")
    fi
    wrapper+=(-- "${_psij_command[@]}")

    # Without a log, the launcher's output is captured so that a failure can quote it, and
    # then passed on to stderr.
    local output_file=$_psij_log_file
    if [[ -z $output_file ]]; then
        output_file=$_psij_status_directory/launcher-output
    fi
    local offset=0
    if [[ -f $output_file ]]; then
        offset=$(wc -c <"$output_file")
    fi

    "$@" "${wrapper[@]}" >>"$output_file" 2>&1
    local launcher_status=$?

    if [[ -z $_psij_log_file ]]; then
        cat -- "$output_file" >&2
    fi
    psij_collect_rank_exit_codes "$launcher_name" "$launcher_status" "$output_file" "$offset"
}

psij_collect_rank_exit_codes() {
    local launcher_name=$1 launcher_status=$2 output_file=$3 offset=$4
    local rank code recorded=0 first_failure=''
    for (( rank = 0; rank < _psij_process_count; rank++ )); do
        code=''
        if [[ -f $_psij_status_directory/rank-$rank ]]; then
            read -r code <"$_psij_status_directory/rank-$rank"
        fi
        # A rank killed while writing its file counts as not having reported.
        if [[ ! $code =~ ^[0-9]+$ ]]; then
            continue
        fi
        recorded=$(( recorded + 1 ))
        if [[ -z $first_failure && $code != 0 ]]; then
            first_failure=$code
        fi
    done

    if (( recorded == 0 )); then
        local summary
        summary=$(psij_summarize_output "$output_file" "$offset")
        if (( launcher_status == 0 )); then
            psij_launcher_error "$launcher_name exited with code 0 but none of the" \
                "$_psij_process_count processes ran: $summary"
            exit 1
        fi
        psij_launcher_error "$launcher_name failed with exit code $launcher_status before" \
            "starting any process: $summary"
        exit "$launcher_status"
    fi
    if [[ -n $first_failure ]]; then
        PSIJ_JOB_EXIT_CODE=$first_failure
    elif (( recorded < _psij_process_count && launcher_status != 0 )); then
        psij_log_note "only $recorded of $_psij_process_count processes reported an exit" \
            "code; $launcher_name exited with code $launcher_status"
        PSIJ_JOB_EXIT_CODE=$launcher_status
    elif (( recorded < _psij_process_count )); then
        psij_launcher_error "$launcher_name exited with code 0 but only $recorded of" \
            "$_psij_process_count processes ran"
        exit 1
    else
        if (( launcher_status != 0 )); then
            psij_log_note "every process exited with code 0 but $launcher_name exited" \
                "with code $launcher_status; the job counts as successful"
        fi
        PSIJ_JOB_EXIT_CODE=0
    fi
}

# A one-line digest of what the launcher wrote after `offset`: every line if there are few,
# else the first and last three (the cause is usually at one end), without the separator
# lines MPI implementations draw around their messages.
psij_summarize_output() {
    local output_file=$1 offset=$2 line lines=()
    if [[ -f $output_file ]]; then
        while IFS= read -r line || [[ -n $line ]]; do
            if [[ $line =~ ^[[:space:]=*-]*$ || $line == "$_psij_error_prefix"* ]]; then
                continue
            fi
            # Without the indentation and the carriage returns of ssh and friends.
            line=${line%$'\r'}
            line=${line#"${line%%[![:space:]]*}"}
            lines+=("$line")
        done < <(tail -c "+$(( offset + 1 ))" -- "$output_file")
    fi
    local count=${#lines[@]}
    if (( count == 0 )); then
        printf '%s' '(it printed nothing)'
        return 0
    fi
    if (( count > 6 )); then
        lines=("${lines[@]:0:3}" '...' "${lines[@]:count-3:3}")
    fi
    local summary=${lines[0]} index
    for (( index = 1; index < ${#lines[@]}; index++ )); do
        summary+=" | ${lines[index]}"
    done
    printf '%s' "$summary"
}
