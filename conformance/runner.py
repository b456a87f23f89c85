"""Running the capabilities of the suite against a target."""

import concurrent.futures
import datetime
import os
import pathlib
import shutil
import time
from typing import Callable, List, Optional, Sequence

import psij
from psij import JobExecutor
from psij.launcher import launchers

from .capability import Capability, all_capabilities
from .checks.environment import INHERITED_VARIABLE
from .context import Context
from .errors import CheckFailed, NotApplicable
from .report import FAILED, NOT_APPLICABLE, PASSED, CapabilityResult, Report
from .target import Target

ResultCallback = Callable[[CapabilityResult], None]


def capability_ids() -> List[str]:
    """The ids of every capability, in the suite's order."""
    return [item.id for item in all_capabilities()]


def select(only: Optional[Sequence[str]] = None) -> List[Capability]:
    """The capabilities named in ``only`` (all if None); ValueError names unknown ids."""
    capabilities = all_capabilities()
    if only is None:
        return capabilities
    known = {item.id for item in capabilities}
    unknown = [name for name in only if name not in known]
    if unknown:
        raise ValueError(f'unknown capability {", ".join(unknown)}; known capabilities: '
                         + ', '.join(item.id for item in capabilities))
    return [item for item in capabilities if item.id in only]


def run_capability(capability: Capability, target: Target,
                   scratch: pathlib.Path) -> CapabilityResult:
    """Run one capability's check (in this thread) and say how it fared."""
    started = time.monotonic()

    def result(outcome: str, reason: Optional[str]) -> CapabilityResult:
        return CapabilityResult(capability.id, capability.title, outcome, reason,
                                time.monotonic() - started)

    reason = capability.applies(target)
    if reason is not None:
        return result(NOT_APPLICABLE, reason)
    context = Context(target, scratch / capability.id)
    try:
        capability.check(context)
    except NotApplicable as error:
        return result(NOT_APPLICABLE, str(error))
    except CheckFailed as error:
        return result(FAILED, str(error))
    except Exception as error:  # noqa: BLE001  (any error of the executor is a failure)
        return result(FAILED, f'{type(error).__name__}: {error}')
    finally:
        context.cleanup()
    return result(PASSED, None)


def _versions(target: Target) -> tuple[str, str]:
    executor_class = type(JobExecutor.get_instance(target.executor, url=target.url))
    launcher_class = launchers.load(target.launcher)
    return (str(getattr(executor_class, 'version', '')),
            str(getattr(launcher_class, 'version', '')))


def run_suite(target: Target, only: Optional[Sequence[str]] = None, parallel: int = 4,
              scratch: Optional[pathlib.Path] = None, keep_files: bool = False,
              on_result: Optional[ResultCallback] = None) -> Report:
    """Run the suite (or the capabilities in ``only``) against ``target``.

    Up to ``parallel`` capabilities run at once. Job files go under ``scratch`` (default
    ``~/.psij/conformance/<time>-<executor>-<launcher>``, which must be visible to the
    target's compute nodes); it is removed after a run without failures unless
    ``keep_files``. Raises ValueError (unknown capability, executor or launcher) and
    `psij.plugins.PluginLoadError` before any job is submitted.
    """
    capabilities = select(only)
    executor_version, launcher_version = _versions(target)
    now = datetime.datetime.now(datetime.timezone.utc)
    if scratch is None:
        scratch = (pathlib.Path.home() / '.psij' / 'conformance'
                   / f'{now:%Y%m%dT%H%M%S}-{target.executor}-{target.launcher}-{os.getpid()}')
    scratch.mkdir(parents=True, exist_ok=True)
    # A variable only this process has: the inherit_environment=False check looks for it.
    os.environ[INHERITED_VARIABLE] = 'submitter'
    report = Report(target, psij_version=psij.__version__,
                    executor_version=executor_version, launcher_version=launcher_version,
                    started=now.isoformat(timespec='seconds'))
    started = time.monotonic()
    results: dict[str, CapabilityResult] = {}
    began: dict[str, float] = {}

    def run(item: Capability) -> CapabilityResult:
        began[item.id] = time.monotonic()
        return run_capability(item, target, scratch)

    def finish(item: Capability, result: CapabilityResult) -> None:
        results[item.id] = result
        if on_result is not None:
            on_result(result)

    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, parallel),
                                                 thread_name_prefix='psij-conformance')
    futures = {pool.submit(run, item): item for item in capabilities}
    pending = set(futures)
    while pending:
        done, pending = concurrent.futures.wait(
            pending, timeout=5, return_when=concurrent.futures.FIRST_COMPLETED)
        for future in done:
            finish(futures[future], future.result())
        for future in list(pending):
            item = futures[future]
            limit = item.timeout * target.timeout_scale
            if item.id in began and time.monotonic() - began[item.id] > limit:
                # The check's own waits are bounded; this one hangs inside the executor.
                pending.discard(future)
                finish(item, CapabilityResult(item.id, item.title, FAILED,
                                              f'did not finish within {limit:.0f} s',
                                              time.monotonic() - began[item.id]))
    pool.shutdown(wait=False, cancel_futures=True)
    report.results = [results[item.id] for item in capabilities]
    report.seconds = time.monotonic() - started
    if not report.failed and not keep_files:
        shutil.rmtree(scratch, ignore_errors=True)
    return report
