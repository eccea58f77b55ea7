"""The offline commands of `news-ingest` (everything but `run`): training and evaluating the NER model,
the HTML report, Avro inspection and the README's schema tables. Each module has ``main(argv)``;
`pipeline/cli.py` dispatches to them. The Beam pipeline itself stays in `pipeline/`."""
