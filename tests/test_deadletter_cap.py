"""--max-deadletter-bytes sets the raw bytes a dead letter keeps, above the 1 MiB default as well as below."""

from conftest import read_avro, run_pipeline

MIB = 1 << 20


def _run(tmp_path, ner, cap: int) -> dict:
    inp = tmp_path / f"in-{cap}.jsonl"
    inp.write_bytes(b'{"text": "' + b"x" * (2 * MIB) + b'"\xff}\n')  # 2 MiB line, invalid UTF-8 at its end
    out = tmp_path / f"out-{cap}"
    assert (
        run_pipeline(
            ["--input", str(inp), "--output", str(out), "--max-deadletter-bytes", str(cap), "--ner-model", str(ner)]
        )
        == 0
    )
    (dead,) = read_avro(str(out / "deadletter-*.avro"))
    return dead


def test_cap_can_be_raised_above_one_mib(tmp_path, tiny_ner):
    dead = _run(tmp_path, tiny_ner, 3 * MIB)
    assert len(dead["raw"]) == 2 * MIB + 13 and dead["raw"].endswith(b"\xff}") and not dead["raw_truncated"]


def test_cap_can_be_lowered(tmp_path, tiny_ner):
    dead = _run(tmp_path, tiny_ner, 1000)
    assert len(dead["raw"]) == 1000 and dead["raw_truncated"]
