"""The ``site_slurm`` executor: psij's Slurm executor with a site's own job script template.

It shows how a site extends a built-in batch scheduler from a package of its own: subclass
the scheduler, give it a name, and ship ``<name>.mustache`` beside the module. The template
holds the directive lines (here psij's Slurm lines plus the site's ``--comment`` and
``--no-requeue``) and ends with ``{{{job_body}}}``, the common body that writes psij's
markers. Everything else (commands, parsers, the tracker) is psij's.
"""

from psij.executors.slurm import Slurm, SlurmJobExecutor


class SiteSlurm(Slurm):
    """Slurm with this site's template (``site_slurm.mustache``, beside this module)."""

    name = 'site_slurm'


class SiteSlurmJobExecutor(SlurmJobExecutor):
    """Runs jobs through Slurm with the site's template; its name is its scheduler's."""

    version = '1.0.0'
    scheduler = SiteSlurm()
