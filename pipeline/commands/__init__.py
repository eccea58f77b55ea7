"""The offline commands of `news-ingest` (everything but `run`): training and evaluating the NER and topic models,
the HTML report, Avro inspection and the generated reference pages in docs/. Each module has ``main(argv)``;
`pipeline/cli.py` dispatches to them. The Beam pipeline itself stays in `pipeline/`."""
