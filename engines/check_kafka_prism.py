"""Proof that Beam Python's cross-language KafkaIO runs on Prism here.

Needs: engines/fetch-kafka.sh (jar), engines/kafka.sh up (broker), a Prism
binary ($PRISM, default .engines/bin/prism), confluent-kafka in the venv.

    .venv/bin/python engines/check_kafka_prism.py [--mode bounded|streaming]

1. produces N messages to a fresh input topic (confluent-kafka),
2. runs Read(Kafka) -> upper-case value -> Write(Kafka) on PrismRunner,
   with the expansion service started from our local shaded jar (no download),
3. consumes the output topic and checks the N records arrived.

Gotchas found with it (Beam 2.73.0, Prism 2.73.0):
- the Map before WriteToKafka needs .with_output_types(tuple[bytes, bytes]),
  else Java fails decoding (`UnknownCoderWrapper` CoderException);
- commit_offset_in_finalize=True is rejected by Prism ("doesn't support ...
  beam:requirement:pardo:stable_input:v1"); use 'enable.auto.commit' instead;
- streaming: leaving `with Pipeline` kills the Beam-managed expansion JVM
  (= the Java worker), so streaming runs use our own JVM + result.cancel().
"""
import argparse
import logging
import os
import socket
import subprocess
import threading
import time
import uuid

import apache_beam as beam
from apache_beam.io.kafka import ReadFromKafka, WriteToKafka
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.transforms.external import JavaJarExpansionService
from confluent_kafka import Consumer, Producer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JAR = os.environ.get('KAFKA_EXPANSION_JAR', os.path.join(
    ROOT, '.engines/jars/beam-kafka-expansion-service-2.73.0.jar'))
PRISM = os.environ.get('PRISM', os.path.join(ROOT, '.engines/bin/prism'))
BOOTSTRAP = os.environ.get('KAFKA_BOOTSTRAP', '127.0.0.1:9092')


def produce(topic, n):
  p = Producer({'bootstrap.servers': BOOTSTRAP})
  for i in range(n):
    p.produce(topic, key=b'k%d' % i, value=b'msg-%d' % i)
  assert p.flush(30) == 0, 'producer did not flush'


def consume(topic, n, timeout):
  c = Consumer({'bootstrap.servers': BOOTSTRAP, 'group.id': 'check-' + topic,
                'auto.offset.reset': 'earliest'})
  c.subscribe([topic])
  got, deadline = [], time.time() + timeout
  while len(got) < n and time.time() < deadline:
    m = c.poll(1.0)
    if m is not None and not m.error():
      got.append((m.key(), m.value()))
  c.close()
  return sorted(got)


def free_port():
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


def wait_port(port, timeout):
  deadline = time.time() + timeout
  while time.time() < deadline:
    with socket.socket() as s:
      if s.connect_ex(('localhost', port)) == 0:
        return
    time.sleep(0.3)
  raise TimeoutError(f'nothing listening on localhost:{port}')


def java_rss_mb():
  """Sum RSS (MB) of JVMs running our expansion jar (service + loopback worker)."""
  total = 0
  for pid in filter(str.isdigit, os.listdir('/proc')):
    try:
      with open(f'/proc/{pid}/cmdline', 'rb') as f:
        if os.path.basename(JAR).encode() not in f.read():
          continue
      with open(f'/proc/{pid}/status') as f:
        total += next(int(l.split()[1]) for l in f if l.startswith('VmRSS'))
    except (OSError, StopIteration):
      pass
  return total // 1024


def main():
  ap = argparse.ArgumentParser()
  ap.add_argument('--mode', choices=['bounded', 'streaming'], default='bounded')
  ap.add_argument('-n', type=int, default=5)
  ap.add_argument('--timeout', type=float, default=180)
  ap.add_argument('--own-service', action='store_true',
                  help='start the expansion JVM ourselves (implied by streaming)')
  ap.add_argument('--heap', default='1g', help='-Xmx for --own-service')
  args = ap.parse_args()
  logging.basicConfig(level=logging.INFO, format='%(asctime)s %(message)s')
  for path in (JAR, PRISM):
    assert os.path.exists(path), f'missing {path} (run engines/fetch-kafka.sh)'

  args.own_service |= args.mode == 'streaming'
  run_id = uuid.uuid4().hex[:8]
  t_in, t_out = f'check-in-{run_id}', f'check-out-{run_id}'
  t0 = time.time()
  produce(t_in, args.n)
  print(f'produced {args.n} -> {t_in} in {time.time() - t0:.1f}s')

  peak = [0]
  stop = threading.Event()
  def sample():
    while not stop.wait(1.0):
      peak[0] = max(peak[0], java_rss_mb())
  threading.Thread(target=sample, daemon=True).start()

  service = None
  if args.own_service:
    # Our own JVM: we choose heap and lifetime (can outlive/serve many
    # pipelines). --alsoStartLoopbackWorker makes the same JVM run the Java
    # SDK worker that Prism talks to (no Docker).
    port = free_port()
    service = subprocess.Popen(
        ['java', f'-Xmx{args.heap}', '-jar', JAR, str(port),
         f'--filesToStage={JAR}', '--alsoStartLoopbackWorker'])
    try:
      wait_port(port, 60)
    except TimeoutError:
      service.kill()
      raise
    expansion = f'localhost:{port}'
  else:
    # Beam-managed JVM: inside `with Pipeline` Beam caches the service (one
    # JVM for Read and Write if they share this object) and appends
    # --alsoStartLoopbackWorker itself; the JVM dies when the `with` exits.
    expansion = JavaJarExpansionService(JAR)

  opts = ['--runner=PrismRunner', f'--prism_location={PRISM}']
  read_kw = dict(
      consumer_config={'bootstrap.servers': BOOTSTRAP,
                       'group.id': 'beam-' + run_id,
                       'auto.offset.reset': 'earliest'},
      topics=[t_in], expansion_service=expansion)
  if args.mode == 'bounded':
    read_kw['max_num_records'] = args.n     # bounded read: job finishes itself
  else:
    opts.append('--streaming')

  def build(p):
    _ = (p
         | 'Read' >> ReadFromKafka(**read_kw)
         | 'Upper' >> beam.Map(lambda kv: (kv[0], kv[1].upper()))
            .with_output_types(tuple[bytes, bytes])
         | 'Write' >> WriteToKafka(
             producer_config={'bootstrap.servers': BOOTSTRAP},
             topic=t_out, expansion_service=expansion))

  t1 = time.time()
  try:
    if args.mode == 'bounded' and not args.own_service:
      with beam.Pipeline(options=PipelineOptions(opts)) as p:
        build(p)
      got = consume(t_out, args.n, 30)
    else:
      p = beam.Pipeline(options=PipelineOptions(opts))
      build(p)
      result = p.run()
      if args.mode == 'bounded':
        result.wait_until_finish()
        got = consume(t_out, args.n, 30)
      else:
        got = consume(t_out, args.n, args.timeout)
        print(f'output seen at +{time.time() - t1:.1f}s, cancelling')
        result.cancel()
        try:
          result.wait_until_finish()
        except RuntimeError as e:   # raised for any final state but DONE
          print(f'final state {result.state}: {str(e)[:120]}')
    print(f'consumed {len(got)} from {t_out}; pipeline part '
          f'{time.time() - t1:.1f}s')
  finally:
    stop.set()
    if service:
      service.terminate()
      try:
        service.wait(30)
      except subprocess.TimeoutExpired:
        service.kill()
  print(f'peak RSS of expansion-service JVM(s): {peak[0]} MB; '
        f'total {time.time() - t0:.1f}s')
  want = sorted((b'k%d' % i, b'MSG-%d' % i) for i in range(args.n))
  assert got == want, f'got {got}'
  print('OK')


if __name__ == '__main__':
  main()
