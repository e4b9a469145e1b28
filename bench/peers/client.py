"""
The Celery submitter of bench/peers/run.mjs (the coordinator, like `fj run`):
reads an input JSON, submits one workload as a chord on the worker pool of
PEER_QUEUE, waits for the callback's result, writes it as JSON, and prints
{"jobMs": ..., "items": ...} on stdout. jobMs runs from building the canvas
(input already parsed) to the result in hand, like fj's --stats wallMs.

  /usr/bin/python3 client.py WORKLOAD INPUT.json OUTPUT.json

Workloads:
  wc-seed       word count as the seed wrote it (whole input to every member)
  wc-careful    word count, each of the 32 members receives only its slice
  tiny          {"n": N}: a chord of N no-op tasks
  straggle      {"durations": [ms...]}: a chord of one sleeping task per item
  place-one     align input: one task per edit, the reference in every message
  place-chunks  align input: 32 tasks, each with the reference and its edits
  galaxy        {"plan": [{"n": 1, "ms": M}, {"n": N, "ms": M}, {"n": 1, "ms": M}], "stamps": PATH?}:
                chain(setup | chord(N item tasks, a callback) | metadata) with
                link_error (bench/pipeline.mjs; the shape of Galaxy's chain)
"""
import json
import sys
import time

from celery import chain, chord, group

import celery_app as t

G = t.NUMBER_OF_GROUPS


def canvas(workload, data):
    if workload == 'wc-seed':
        # The seed's code: setup_step's result (the grouped documents) is
        # prepended to the arguments of every process_step in the group.
        return chain(
            t.seed_setup.s(data['documents']),
            group([t.seed_process.s(i) for i in range(G)]),
            t.seed_join.s(),
        ), len(data['documents'])
    if workload == 'wc-careful':
        docs = data['documents']
        return chord([t.wc_count.s(docs[i::G]) for i in range(G)], t.wc_join.s()), len(docs)
    if workload == 'tiny':
        n = data['n']
        return chord([t.noop.s(i) for i in range(n)], t.count.s()), n
    if workload == 'straggle':
        ds = data['durations']
        return chord([t.straggle_item.s(ms) for ms in ds], t.straggle_join.s()), len(ds)
    if workload in ('place-one', 'place-chunks'):
        # The reference is upper-cased once, as fj's align does in params.
        ref = data['reference'].upper()
        edits = data['edits']
        if workload == 'place-one':
            return chord([t.place.s(ref, e) for e in edits], t.place_join.s()), len(edits)
        return chord([t.place_many.s(ref, edits[i::G]) for i in range(G)], t.place_join_many.s()), len(edits)
    if workload == 'galaxy':
        plan = data['plan']
        stamps = data.get('stamps')
        n = plan[1]['n']
        sig = chain(
            t.galaxy_setup.s(plan, stamps),
            chord([t.galaxy_item.s(i) for i in range(n)], t.galaxy_collect.s(stamps)),
            t.galaxy_metadata.s(plan[2]['ms'], stamps),
        )
        sig.on_error(t.galaxy_on_error.s())
        return sig, n
    raise SystemExit(f'client.py: unknown workload {workload!r}')


def main():
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    workload, input_path, output_path = sys.argv[1:]
    with open(input_path, encoding='utf-8') as f:
        data = json.load(f)
    t0 = time.perf_counter()
    sig, items = canvas(workload, data)
    result = sig.apply_async().get(timeout=3600, disable_sync_subtasks=False)
    job_ms = (time.perf_counter() - t0) * 1000
    if workload.startswith('wc-'):
        result = {'word_count': dict(sorted(result.items()))}
    with open(output_path, 'w', encoding='utf-8') as f:
        json.dump(result, f)
    print(json.dumps({'jobMs': job_ms, 'items': items}))


if __name__ == '__main__':
    main()
