"""The flags of `news-ingest run`: renamed flags keep their old spelling as an alias, through Beam's own
option parsing too; our flags and Beam's are told apart; --help keeps its groups."""

import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.options import NewsIngestOptions, beam_args
from pipeline.run import help_parser


@pytest.mark.parametrize(
    "flags,dest,value",
    [
        (["--model-threads", "3"], "model_threads", 3),
        (["--torch-threads", "3"], "model_threads", 3),
        (["--torch-threads=3"], "model_threads", 3),
        (["--topic-method", "nli"], "topic_method", "nli"),
        (["--topic-backend", "nli"], "topic_method", "nli"),
        (["--topic-backend=nli"], "topic_method", "nli"),
    ],
)
def test_both_spellings_of_a_renamed_flag_set_one_option(flags, dest, value):
    options = PipelineOptions(["--output", "x", *flags])
    assert getattr(options.view_as(NewsIngestOptions), dest) == value
    everything = options.get_all_options()
    assert everything[dest] == value
    assert not {"torch_threads", "topic_backend"} & set(everything)


def test_renamed_flags_default_and_reject_what_they_rejected():
    opts = PipelineOptions([]).view_as(NewsIngestOptions)
    assert (opts.model_threads, opts.topic_method) == (0, "embedding")
    with pytest.raises(SystemExit):
        PipelineOptions(["--topic-backend", "keywords"]).view_as(NewsIngestOptions)


def test_help_names_the_alias_and_keeps_its_groups():
    parser = help_parser()
    strings = {a.dest: a.option_strings for a in parser._actions}
    assert strings["model_threads"] == ["--model-threads", "--torch-threads"]
    assert strings["topic_method"] == ["--topic-method", "--topic-backend"]
    text = parser.format_help()
    assert "--torch-threads is an alias" in text and "--topic-backend is an alias" in text
    titles = [g.title for g in parser._action_groups][2:]
    assert titles == [
        "input/output",
        "models",
        "streaming (with --streaming)",
        "kafka (streaming; see docs/engines.md, Kafka)",
        "limits",
    ]


def test_beam_args_are_the_flags_that_are_not_ours_in_their_order():
    argv = [
        "--runner",
        "FlinkRunner",
        "--input",
        "a",
        "--streaming",
        "--torch-threads=2",
        "--allow-download",
        "--checkpointing_interval",
        "500",
        "--input",
        "b",
        "--max_num_workers",
        "-1",
    ]
    assert beam_args(argv) == [
        "--runner",
        "FlinkRunner",
        "--streaming",
        "--checkpointing_interval",
        "500",
        "--max_num_workers",
        "-1",
    ]
