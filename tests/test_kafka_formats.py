"""The Kafka value formats (``--kafka-value-format``), without a broker: each format's messages decoded by its
documented wire format with nothing but fastavro and the schema files; the confluent format's registration
against a STAND-IN for a schema registry (``registry_stand_in.py``: an in-test HTTP server that implements only
the one POST the pipeline makes; no real registry can run here, so that is all the confluent format is tested
against); the flag checks. The formats on a real broker: test_kafka.py.
"""

from __future__ import annotations

import io
import json
import socket
import struct
import time

import apache_beam as beam
import avro_fixtures as af
import fastavro
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.transforms.window import GlobalWindow
from conftest import ROOT, run_pipeline
from fastavro.schema import to_parsing_canonical_form
from registry_stand_in import CONTENT_TYPE, RegistryStandIn

import schemas
from pipeline import graph
from pipeline.config import RunConfig
from pipeline.run import register_value_schemas
from transforms.io import avro_messages, kafka_write
from transforms.io.schema_registry import SchemaRegistryError, register

ARTICLE, DEAD = schemas.ENRICHED_ARTICLE, schemas.DEAD_LETTER
# docs/consumers.md names these: the fingerprints of the current schemas, as they appear in a message
DOCUMENTED_FINGERPRINTS = {ARTICLE: "a2ae66ee69a68ee9", DEAD: "e0d7eb96b1ed04e2"}
KAFKA_FLAGS = ["--runner", "PrismRunner", "--streaming", "--kafka-topic", "in", "--kafka-output-topic", "out"]


def schema_file(name: str):
    """The schema as a consumer gets it: the shipped .avsc file, parsed by fastavro."""
    return fastavro.parse_schema(json.loads((ROOT / "schemas" / f"{name}.avsc").read_text()))


def avro_body(name: str, record: dict) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, schema_file(name), record)
    return buf.getvalue()


def read_body(name: str, data: bytes) -> dict:
    buf = io.BytesIO(data)
    record = fastavro.schemaless_reader(buf, schema_file(name))
    assert buf.tell() == len(data), "bytes after the Avro body"
    return record


def samples(name: str) -> list[dict]:
    return af.make_records(3, extended=True) if name == ARTICLE else af.dead_letters(2)


def crc64_avro(data: bytes) -> int:
    """The Avro specification's CRC-64-AVRO (Rabin) fingerprint, written out from the spec."""
    empty = 0xC15D213AA4D7A795
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp)
    fp = empty
    for byte in data:
        fp = (fp >> 8) ^ table[(fp ^ byte) & 0xFF]
    return fp


def config_of(*flags: str) -> RunConfig:
    return RunConfig.from_options(PipelineOptions(list(flags)))


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# -- the three encoders, decoded by their wire formats ----------------------------------------------------------


@pytest.mark.parametrize("name", [ARTICLE, DEAD])
def test_single_object_stays_the_default_with_todays_bytes(name):
    canonical = to_parsing_canonical_form(schema_file(name)).encode()
    for record in samples(name):
        value = avro_messages.encode(name, record)
        assert value == avro_messages.encode(name, record, avro_messages.header(avro_messages.SINGLE_OBJECT, name))
        assert value[:2] == b"\xc3\x01"
        assert value[2:10] == crc64_avro(canonical).to_bytes(8, "little")
        assert value[2:10].hex() == DOCUMENTED_FINGERPRINTS[name]
        assert value[10:] == avro_body(name, record)
        assert read_body(name, value[10:])["source_line"] == record["source_line"]
    assert config_of("--kafka-output-topic", "t").kafka.value_format == avro_messages.SINGLE_OBJECT


@pytest.mark.parametrize("name", [ARTICLE, DEAD])
def test_raw_is_the_avro_body_alone(name):
    for record in samples(name):
        value = avro_messages.encode(name, record, avro_messages.header(avro_messages.RAW, name))
        assert value == avro_body(name, record) == avro_messages.encode(name, record)[10:]
        decoded = read_body(name, value)
        assert (decoded["source_file"], decoded["source_line"]) == (record["source_file"], record["source_line"])


@pytest.mark.parametrize("name", [ARTICLE, DEAD])
def test_confluent_is_magic_zero_a_big_endian_schema_id_and_the_body(name):
    for record in samples(name):
        value = avro_messages.encode(name, record, avro_messages.header(avro_messages.CONFLUENT, name, 0x01020304))
        magic, schema_id = struct.unpack(">bI", value[:5])
        assert (magic, schema_id) == (0, 0x01020304) and value[1:5] == b"\x01\x02\x03\x04"
        assert value[5:] == avro_body(name, record)
        assert read_body(name, value[5:])["source_line"] == record["source_line"]


def test_confluent_schema_ids_are_java_ints_and_formats_are_named():
    assert avro_messages.header(avro_messages.CONFLUENT, ARTICLE, 0) == b"\x00" * 5
    assert avro_messages.header(avro_messages.CONFLUENT, ARTICLE, 2**31 - 1) == b"\x00\x7f\xff\xff\xff"
    for bad in (-1, 2**31):
        with pytest.raises(ValueError, match="32-bit"):
            avro_messages.header(avro_messages.CONFLUENT, ARTICLE, bad)
    with pytest.raises(ValueError, match="schema id"):
        avro_messages.header(avro_messages.CONFLUENT, ARTICLE)
    with pytest.raises(ValueError, match="unknown value format 'json'"):
        avro_messages.header("json", ARTICLE)


# -- registering with the stand-in -------------------------------------------------------------------------------


def test_registering_posts_the_shipped_schema_and_returns_the_registry_id():
    with RegistryStandIn(first_id=41) as registry:
        first = register(registry.url, "enriched-value", schemas.load_json(ARTICLE))
        again = register(registry.url + "/", "enriched-value", schemas.load_json(ARTICLE))
        other = register(registry.url, "enriched.deadletter-value", schemas.load_json(DEAD))
    assert (first, again, other) == (41, 41, 42)
    assert [r.path for r in registry.requests] == [
        "/subjects/enriched-value/versions",
        "/subjects/enriched-value/versions",
        "/subjects/enriched.deadletter-value/versions",
    ]
    assert {(r.method, r.content_type) for r in registry.requests} == {("POST", CONTENT_TYPE)}
    sent = json.loads(registry.requests[0].body)
    assert list(sent) == ["schema"] and isinstance(sent["schema"], str)  # the schema as a JSON string
    assert json.loads(sent["schema"]) == schemas.load_json(ARTICLE)  # the .avsc as shipped, docs and defaults too


@pytest.mark.parametrize(
    "status,answer,message",
    [
        (
            422,
            b'{"error_code":42201,"message":"Invalid schema"}',
            "refused the schema of s-value: HTTP 422 Invalid schema",
        ),
        (409, b'{"error_code":409,"message":"incompatible with an earlier schema"}', "HTTP 409 incompatible with an"),
        (500, b"<html>oops</html>", "HTTP 500 <html>oops</html>"),
        (200, b'{"version": 3}', "gave no id for s-value"),
        (200, b'{"id": "7"}', "gave no id for s-value"),
        (200, b"not json", "gave no id for s-value"),
    ],
)
def test_a_registry_that_gives_no_id_is_a_clear_error(status, answer, message):
    with RegistryStandIn(refuse=(status, answer)) as registry:
        with pytest.raises(SchemaRegistryError, match=message):
            register(registry.url, "s-value", schemas.load_json(DEAD))


def test_an_unreachable_registry_is_a_clear_error_at_once():
    url = closed_port_url()
    started = time.monotonic()
    with pytest.raises(SchemaRegistryError, match=f"schema registry {url} cannot be reached"):
        register(url, "s-value", schemas.load_json(DEAD))
    assert time.monotonic() - started < 5


class FakeProducer:
    """confluent_kafka.Producer's calls that the sink makes, delivering everything; no broker."""

    sent: list = []

    def __init__(self, config):
        self.pending = []

    def produce(self, topic, key, value, on_delivery):
        FakeProducer.sent.append((topic, key, value))
        self.pending.append(on_delivery)

    def poll(self, timeout):
        return 0

    def flush(self, timeout=None):
        for delivered in self.pending:
            delivered(None, None)
        self.pending = []
        return 0


@pytest.mark.parametrize("value_format", avro_messages.VALUE_FORMATS)
@pytest.mark.parametrize("name", [ARTICLE, DEAD])
def test_a_worker_frames_every_message_and_registers_once_in_setup(monkeypatch, value_format, name):
    confluent_kafka = pytest.importorskip("confluent_kafka")
    monkeypatch.setattr(confluent_kafka, "Producer", FakeProducer)
    monkeypatch.setattr(FakeProducer, "sent", [])
    records = samples(name)
    with RegistryStandIn(first_id=300) as registry:
        url = registry.url if value_format == avro_messages.CONFLUENT else None
        fn = kafka_write._ProduceFn("127.0.0.1:9092", "t", name, value_format, url)
        fn.setup()
        for _bundle in range(2):
            fn.start_bundle()
            for record in records:
                fn.process(record, timestamp=0, window=GlobalWindow())
            acks = list(fn.finish_bundle())
            assert [a.value for a in acks] == [(r["source_file"], r["source_line"], "kafka") for r in records]
        fn.teardown()
    headers = {
        avro_messages.SINGLE_OBJECT: b"\xc3\x01" + bytes.fromhex(DOCUMENTED_FINGERPRINTS[name]),
        avro_messages.RAW: b"",
        avro_messages.CONFLUENT: b"\x00\x00\x00\x01\x2c",  # id 300
    }
    assert len(FakeProducer.sent) == 2 * len(records)
    for (topic, key, value), record in zip(FakeProducer.sent, records + records):
        assert topic == "t" and key == kafka_write.message_key(record)
        header = headers[value_format]
        assert value[: len(header)] == header and value[len(header) :] == avro_body(name, record)
    expected = {"t-value": [300]} if value_format == avro_messages.CONFLUENT else {}
    assert registry.subjects == expected  # once per worker, in setup; never per message


# -- the run: flags, and registering before anything starts -------------------------------------------------------


def test_the_format_flags_land_in_the_kafka_config():
    assert config_of("--output", "x").kafka is None
    kafka = config_of("--kafka-output-topic", "t", "--kafka-value-format", "raw").kafka
    assert (kafka.value_format, kafka.schema_registry) == ("raw", None)
    flags = ["--kafka-value-format", "confluent", "--schema-registry", "http://r"]
    kafka = config_of("--kafka-output-topic", "t", *flags).kafka
    assert (kafka.value_format, kafka.schema_registry) == ("confluent", "http://r")
    assert kafka.output_schemas() == [("t", ARTICLE), ("t.deadletter", DEAD)]
    assert config_of("--schema-registry", "http://r").kafka.schema_registry == "http://r"  # kept, to be rejected
    with pytest.raises(SystemExit):
        config_of("--kafka-value-format", "json")


def test_both_kafka_sinks_of_the_graph_get_the_format(monkeypatch):
    made = []

    class Recording(graph.WriteKafkaMessages):
        def __init__(self, *args):
            made.append(args)
            super().__init__(*args)

    monkeypatch.setattr(graph, "WriteKafkaMessages", Recording)
    flags = ["--streaming", "--watch", "x", "--kafka-output-topic", "out", "--kafka-deadletter-topic", "dl"]
    config = config_of(*flags, "--kafka-value-format", "confluent", "--schema-registry", "http://r:1")
    p = beam.Pipeline()
    graph.write_streaming(p | "Records" >> beam.Create([]), p | "Dead" >> beam.Create([]), config)
    bootstrap = config.kafka.bootstrap
    assert made == [
        (bootstrap, "out", ARTICLE, "confluent", "http://r:1"),
        (bootstrap, "dl", DEAD, "confluent", "http://r:1"),
    ]


@pytest.mark.parametrize(
    "flags,message",
    [
        (["--kafka-value-format", "confluent"], "--kafka-value-format confluent needs --schema-registry URL"),
        (["--schema-registry", "http://r:8081"], "--schema-registry is for --kafka-value-format confluent only"),
        (
            ["--kafka-value-format", "raw", "--schema-registry", "http://r:8081"],
            "is for --kafka-value-format confluent",
        ),
        (
            ["--kafka-value-format", "confluent", "--schema-registry", "r:8081"],
            "'r:8081' is not an http:// or https://",
        ),
        (["--kafka-value-format", "confluent", "--schema-registry", "http://u:pw@r"], "credentials in the URL"),
    ],
)
def test_the_registry_comes_with_the_confluent_format_and_only_with_it(flags, message, capsys):
    assert run_pipeline([*KAFKA_FLAGS, *flags]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("news-ingest run: error")]
    assert len(errors) == 1 and message in errors[0], errors


def test_a_value_format_needs_an_output_topic(tmp_path, capsys):
    args = ["--input", str(ROOT / "seeds" / "*"), "--output", str(tmp_path / "o"), "--kafka-value-format", "raw"]
    assert run_pipeline(args) == 2
    assert "--kafka-value-format raw needs --kafka-output-topic TOPIC" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_the_run_registers_both_topics_before_it_starts():
    with RegistryStandIn() as registry:
        register_value_schemas(
            config_of(*KAFKA_FLAGS[2:], "--kafka-value-format", "confluent", "--schema-registry", registry.url)
        )
        register_value_schemas(config_of(*KAFKA_FLAGS[2:], "--kafka-value-format", "raw"))  # no registry: no call
    assert registry.registered() == {
        "out-value": schemas.load_json(ARTICLE),
        "out.deadletter-value": schemas.load_json(DEAD),
    }
    assert len(registry.requests) == 2


def test_an_unreachable_registry_stops_the_run_before_anything_starts(tmp_path, capsys):
    pytest.importorskip("confluent_kafka")
    url = closed_port_url()
    out = tmp_path / "out"
    started = time.monotonic()
    rc = run_pipeline(
        [*KAFKA_FLAGS, "--output", str(out), "--kafka-value-format", "confluent", "--schema-registry", url]
    )
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("news-ingest run: error")]
    assert rc == 2 and len(errors) == 1, errors
    assert errors[0].startswith(f"news-ingest run: error: schema registry {url} cannot be reached: ")
    assert not out.exists()  # nothing was prepared, no runner or expansion service was started
    assert time.monotonic() - started < 10
