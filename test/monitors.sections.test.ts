// The multi-section layer between a monitor and the emperor (src/monitors/section-monitor.ts): events of one file while its
// listing is in flight, a file removed meanwhile, a listing that fails, an owner change. The monitor and the reader
// are the injected interfaces themselves, driven by the test.
// unit: needs nothing but Node
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SectionMonitor, type SectionListing } from '../src/monitors/section-monitor';
import type { Monitor, MonitorEvents, VassalSource } from '../src/monitors/types';
import { until } from './helpers/wait';

function source(over: Partial<VassalSource> = {}): VassalSource {
  return { name: 'm.ini', path: '/v/m.ini', dir: '/v', mtimeMs: 1000, uid: 1000, gid: 1000, monitor: '/v', ...over };
}

function setup() {
  let feed!: MonitorEvents;
  const inner: Monitor = {
    id: '/v',
    errors: [],
    start: (e) => {
      feed = e;
    },
    rescan: () => undefined,
    stop: () => undefined,
  };
  const asked: Array<{ src: VassalSource; answer: (l: SectionListing) => void }> = [];
  const seen: string[] = [];
  const sections = new SectionMonitor(inner, (src) => new Promise((answer) => asked.push({ src, answer })));
  sections.start({
    add: (s) => seen.push(`add ${s.name}`),
    change: (s) => seen.push(`change ${s.name} ${s.mtimeMs} ${s.uid}`),
    remove: (s) => seen.push(`remove ${s.name}`),
    unchanged: (s) => seen.push(`unchanged ${s.name}`),
  });
  return { feed, asked, seen };
}

const listed = (...sections: Array<[string | null, string]>): SectionListing => ({
  sections: sections.map(([section, digest]) => ({ section, digest })),
});

test('one listing per file at a time: events meanwhile give one more, of the file as it is then', async () => {
  const { feed, asked, seen } = setup();
  feed.add(source());
  feed.change(source({ mtimeMs: 2000 }));
  feed.change(source({ mtimeMs: 3000 }));
  assert.equal(asked.length, 1);
  asked[0].answer(listed([null, 'd1'], ['app2', 'd1']));
  await until(() => asked.length === 2, 'the second listing');
  assert.equal(asked[1].src.mtimeMs, 3000);
  assert.deepEqual(seen, ['add m.ini', 'add m.ini:app2']);
  asked[1].answer(listed([null, 'd1'], ['app2', 'd2'], ['app3', 'd1']));
  await until(() => seen.length === 5, 'the second listing applied');
  assert.deepEqual(seen.slice(2), ['unchanged m.ini', 'change m.ini:app2 3000 1000', 'add m.ini:app3']);
  feed.change(source({ mtimeMs: 4000 }));
  asked[2].answer(listed(['app3', 'd1']));
  await until(() => seen.length === 8, 'the third listing applied');
  assert.deepEqual(seen.slice(5), ['remove m.ini', 'remove m.ini:app2', 'unchanged m.ini:app3']);
});

test('a file removed while listed: its sections go and the late answer adds nothing', async () => {
  const { feed, asked, seen } = setup();
  feed.add(source());
  asked[0].answer(listed([null, 'd'], ['b', 'd']));
  await until(() => seen.length === 2, 'the sections');
  feed.change(source({ mtimeMs: 2000 }));
  feed.remove(source({ mtimeMs: 2000 }));
  assert.deepEqual(seen.slice(2), ['remove m.ini', 'remove m.ini:b']);
  asked[1].answer(listed([null, 'x'], ['c', 'x']));
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(seen.length, 4);
});

test('a listing that fails: a new file shows as its default vassal, known sections are kept; an owner change reaches them all', async () => {
  const { feed, asked, seen } = setup();
  feed.add(source({ name: 'bad.ini' }));
  asked[0].answer({ error: 'bad.ini:3: invalid' });
  await until(() => seen.length === 1, 'the default vassal');
  assert.deepEqual(seen, ['add bad.ini']);

  feed.add(source());
  asked[1].answer(listed([null, 'd'], ['b', 'd']));
  await until(() => seen.length === 3, 'the sections');
  feed.change(source({ mtimeMs: 2000 }));
  asked[2].answer({ error: 'timed out' });
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(seen.length, 3, 'a failed listing changes nothing');
  feed.change(source({ mtimeMs: 3000, uid: 1001 }));
  asked[3].answer({ error: 'timed out' });
  await until(() => seen.length === 5, 'the owner change');
  assert.deepEqual(seen.slice(3), ['change m.ini 3000 1001', 'change m.ini:b 3000 1001']);
});
