"""The pipeline run of an evaluation command: in this process (``pipeline.run.run_pipeline``), on a
RunConfig built from the run flags the command passes through, with what the command decides itself
(input, output, the models measured) set in code."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.config import RunConfig
from pipeline.options import beam_args
from pipeline.run import RunResult, check_config, problem_of, run_pipeline
from pipeline.runtime import engines


class PipelineRunFailed(Exception):
    """The run could not start or did not finish; the message is the line a user can act on."""


def run_config(run_args: Sequence[str], **fields) -> RunConfig:
    """The RunConfig of the `news-ingest run` flags in ``run_args``, with ``fields`` replaced."""
    return dataclasses.replace(RunConfig.from_options(PipelineOptions(list(run_args))), **fields)


def run_through_pipeline(config: RunConfig, run_args: Sequence[str] = ()) -> RunResult:
    """Runs ``config`` with the Beam flags among ``run_args`` (``--runner`` and the like). Raises
    PipelineRunFailed for what `news-ingest run` reports as an error, and whatever else the job raised."""
    flags = beam_args(run_args)
    problem = check_config(config, "runner" in engines.given_options(flags))
    if problem:
        raise PipelineRunFailed(problem)
    try:
        return run_pipeline(config, flags)
    except Exception as e:
        problem = problem_of(e)
        if problem is None:
            raise
        raise PipelineRunFailed(problem) from e
