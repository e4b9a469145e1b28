"""
The peer for bench/peers/run.mjs: the benchmark's workloads as Celery tasks.

RabbitMQ is the broker and Redis the result backend, both named by the
environment (PEER_BROKER, PEER_BACKEND), and every task goes to the queue
PEER_QUEUE (a fresh name per benchmark run, deleted at the end). JSON is the
serializer, as in the seed. Run with Debian's python (/usr/bin/python3) and
its python3-celery 5.2 (bench/peers/setup.sh installs it):

  PEER_QUEUE=q /usr/bin/python3 -m celery -A celery_app worker --concurrency 2 ...

Word count is written twice, with the seed's 32 groups and its chord (a
group of counting tasks and a callback that sums the counts):
- seed: as the seed wrote it, chain(setup_step, group(process_step(i)),
  join_step). Celery passes setup_step's result, the whole input cut in 32
  lists, to EVERY member of the group, which keeps only its own list.
- careful: the submitter cuts the input and each member receives only its
  own slice.
"""
import os
import time
from collections import Counter

from celery import Celery
from celery.signals import worker_ready

NUMBER_OF_GROUPS = 32

app = Celery(
    'fjpeer',
    broker=os.environ.get('PEER_BROKER', 'amqp://guest:guest@127.0.0.1:5672//'),
    backend=os.environ.get('PEER_BACKEND', 'redis://127.0.0.1:6379/12'),
)
_queue = os.environ.get('PEER_QUEUE', 'fj.peers.celery')
app.conf.update(
    task_serializer='json',
    result_serializer='json',
    accept_content=['json'],
    task_default_queue=_queue,
    task_default_exchange=_queue,
    task_default_routing_key=_queue,
    # Results expire by themselves should a run die before deleting them.
    result_expires=900,
    # Nothing of ours listens to events or remote control: no extra queues,
    # no extra traffic in the byte counts.
    worker_send_task_events=False,
    task_send_sent_event=False,
    worker_enable_remote_control=False,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)


@worker_ready.connect
def _announce(**_):
    # run.mjs waits for this line (the worker logs at WARNING, so no 'ready.').
    print('PEER WORKER READY', flush=True)


# --- word count, as the seed wrote it ------------------------------------

@app.task(name='wc.seed_setup')
def seed_setup(documents):
    return [documents[i::NUMBER_OF_GROUPS] for i in range(NUMBER_OF_GROUPS)]


@app.task(name='wc.seed_process')
def seed_process(grouped_documents, group_index):
    word_counter = Counter()
    for document in grouped_documents[group_index]:
        word_counter.update(document.split(' '))
    return word_counter


@app.task(name='wc.seed_join')
def seed_join(word_counters):
    # JSON turned the Counters into dicts (as the seed notes).
    word_counters = [Counter(counter) for counter in word_counters]
    return sum(word_counters, Counter())


# --- word count, each member receives only its slice ---------------------

@app.task(name='wc.count')
def wc_count(documents):
    word_counter = Counter()
    for document in documents:
        word_counter.update(document.split(' '))
    return word_counter


@app.task(name='wc.join')
def wc_join(word_counters):
    total = Counter()
    for counter in word_counters:
        total.update(counter)
    return total


# --- tiny items: the per-item cost ---------------------------------------

@app.task(name='tiny.noop')
def noop(i):
    return 0


@app.task(name='tiny.count')
def count(results):
    return {'items': len(results)}


# --- stragglers: items that sleep for their duration ----------------------

@app.task(name='straggle.item')
def straggle_item(ms):
    time.sleep(ms / 1000.0)
    return ms


@app.task(name='straggle.join')
def straggle_join(results):
    return {'items': len(results), 'sleptMs': sum(results)}


# --- shared context: placing edits on a reference, passed by value --------

K = 16
STEP = 16


def place_one(reference, sequence):
    """The same computation as bench/tasks/place.mjs: every K-mer of the edit
    at offsets 0, STEP, 2*STEP... is looked up (first occurrence) in the
    reference; each hit votes for a diagonal (reference position - offset);
    the diagonal with the most votes wins, the smallest on a tie."""
    votes = {}
    for o in range(0, len(sequence) - K + 1, STEP):
        p = reference.find(sequence[o:o + K])
        if p >= 0:
            d = p - o
            votes[d] = votes.get(d, 0) + 1
    if not votes:
        return -1, 0
    start, n = min(votes.items(), key=lambda kv: (-kv[1], kv[0]))
    return start, n


@app.task(name='place.one')
def place(reference, edit):
    start, votes = place_one(reference, edit['sequence'])
    return {'id': edit['id'], 'start': start, 'votes': votes}


@app.task(name='place.many')
def place_many(reference, edits):
    out = []
    for edit in edits:
        start, votes = place_one(reference, edit['sequence'])
        out.append({'id': edit['id'], 'start': start, 'votes': votes})
    return out


@app.task(name='place.join')
def place_join(results):
    return summarize(results)


@app.task(name='place.join_many')
def place_join_many(chunks):
    # Chunk i holds edits i, i+32, i+64...: put them back in edit order.
    n = sum(len(c) for c in chunks)
    ordered = [None] * n
    for i, chunk in enumerate(chunks):
        for j, r in enumerate(chunk):
            ordered[i + j * len(chunks)] = r
    return summarize(ordered)


def summarize(placements):
    placed = sum(1 for p in placements if p['start'] >= 0)
    return {'edits': len(placements), 'placed': placed, 'placements': placements}


# --- a Galaxy-shaped chain (bench/pipeline.mjs) ----------------------------
# chain(setup | chord(group(item per input), callback) | metadata), link_error:
# Celery's shape of fj's 3-stage pipeline with an on-error stage. Items sleep
# for their duration, as bench/tasks/stage.mjs's do (Atomics.wait), and, with
# a `stamps` path, append the same timestamp lines (`<stage> s|e|j <ms>`) as
# they do, so both systems do the same work and are measured the same way.

def _stamp(stamps, stage, what):
    if stamps:
        with open(stamps, 'a', encoding='utf-8') as f:
            f.write(f'{stage} {what} {time.time() * 1000:.3f}\n')


@app.task(name='galaxy.setup')
def galaxy_setup(plan, stamps=None):
    _stamp(stamps, 0, 's')
    time.sleep(plan[0]['ms'] / 1000.0)
    _stamp(stamps, 0, 'e')
    _stamp(stamps, 0, 'j')
    return {'plan': plan, 'stamps': stamps}


@app.task(name='galaxy.item')
def galaxy_item(prepared, i):
    # The chain prepends setup's result to every member's arguments.
    stamps = prepared.get('stamps')
    _stamp(stamps, 1, 's')
    time.sleep(prepared['plan'][1]['ms'] / 1000.0)
    _stamp(stamps, 1, 'e')
    return i


@app.task(name='galaxy.collect')
def galaxy_collect(results, stamps=None):
    out = {'items': len(results), 'sum': sum(results)}
    _stamp(stamps, 1, 'j')
    return out


@app.task(name='galaxy.metadata')
def galaxy_metadata(collected, ms, stamps=None):
    _stamp(stamps, 2, 's')
    time.sleep(ms / 1000.0)
    _stamp(stamps, 2, 'e')
    _stamp(stamps, 2, 'j')
    return {'items': collected['items'], 'sum': collected['sum']}


@app.task(name='galaxy.on_error')
def galaxy_on_error(request, exc, traceback):
    # The on-error stage: never runs in the benchmark (nothing fails); it is
    # linked to every task of the chain, as Galaxy's finish step is.
    print(f'galaxy: task {request.id} failed: {exc!r}', flush=True)
