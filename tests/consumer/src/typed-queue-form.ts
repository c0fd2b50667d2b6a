// Compile-only (tsc --noEmit): the plain-JS helpers `chunkup/queue` and `chunkup/form` (and their
// `chunkup/web/…` twins) through their hand-written .d.ts, used the way an application would.
import init, { UploadError } from 'chunkup';
import type { PeerTubeVideoResult, UploadProgress } from 'chunkup';
import { QueueItem, UploadQueue } from 'chunkup/queue';
import type { QueueItemState, QueueProgress, UploadLike, UploadQueueOptions } from 'chunkup/queue';
import { RESULT_FIELDS, enhanceForm } from 'chunkup/form';
import type { EnhanceFormOptions, EnhancedForm } from 'chunkup/form';
import { UploadQueue as WebUploadQueue } from 'chunkup/web/queue';
import { enhanceForm as webEnhanceForm } from 'chunkup/web/form';

declare const files: FileList;
declare const pages: File[];

export async function queue(): Promise<void> {
  await init();
  const options: UploadQueueOptions = {
    provider: 'peertube', endpoint: 'https://tube.example', accessToken: 't', channelId: 3, chunkSize: 8 * 1024 * 1024,
    concurrency: 3,
    onFileStart: (item: QueueItem) => console.log(item.id, item.name, item.size),
    onFileState: item => { const s: QueueItemState = item.state; console.log(s); },
    onFileProgress: (item, p: UploadProgress) => console.log(item.loaded, item.total, item.bytesPerSecond, item.secondsLeft, p.loaded),
    onFileDone: (item, result) => console.log((result as PeerTubeVideoResult).video.uuid, item.result),
    onFileError: (item, error) => { if (error instanceof UploadError) console.log(error.code, item.error); },
    onFileCancel: item => console.log(item.state),
    onProgress: (p: QueueProgress) => console.log(p.loaded, p.total, p.bytesPerSecond, p.files, p.done, p.error, p.cancelled)
  };
  const q = new UploadQueue(options);
  const items: QueueItem[] = q.add(files, file => ({ name: (file as File).name }));
  q.add([pages], { chunkSize: 1024 * 1024 }); // one item of several files
  items[0].pause();
  items[0].resume();
  await items[1].cancel();
  q.pause(); q.resume(); await q.cancel(items[2]); q.clear();
  const settled: QueueItem[] = await q.settled();
  const last: QueueItem = await settled[0].settled;
  console.log(q.concurrency, q.items.length, q.progress.uploading, last.upload);

  const fake: UploadLike = { start: async () => ({}), pause() {}, resume() {}, abort: async () => {} };
  new WebUploadQueue({ provider: 'apivideo', uploadToken: 'to1', createUpload: () => fake });
}

export function form(el: HTMLFormElement): void {
  const options: EnhanceFormOptions = {
    provider: 'apivideo', uploadToken: 'to1', concurrency: 2, submit: true,
    fileOptions: file => ({ videoName: (file as File).name }),
    fields: result => ({ videoId: result.videoId }),
    onProgress: p => console.log(p.loaded),
    onDone: fields => console.log(fields.map(([name, value]) => `${name}=${value}`)),
    onError: e => console.log(e.message)
  };
  const enhanced: EnhancedForm = enhanceForm(el, options);
  enhanced.destroy();
  webEnhanceForm(el, async () => ({ provider: 'cloudreve', endpoint: '/cloudreve', uri: 'cloudreve://my/', accessToken: await Promise.resolve('t') }));
  console.log(RESULT_FIELDS.peertube({ video: { id: 1, uuid: 'u', shortUUID: 's' } }).uuid);
}

export function refused(el: HTMLFormElement): void {
  // @ts-expect-error concurrency is a number
  new UploadQueue({ concurrency: '2' });
  // @ts-expect-error the queue's onProgress gets a QueueProgress (with counts)
  new UploadQueue({ onProgress: (p: { files: string }) => p });
  // @ts-expect-error not an item state
  const s: QueueItemState = 'running';
  // @ts-expect-error enhanceForm needs a provider's options
  enhanceForm(el, { concurrency: 2 });
  enhanceForm(el, {
    provider: 'apivideo', uploadToken: 'to1',
    // @ts-expect-error fields() gets the result of the options' provider: api.video has no video.id
    fields: result => ({ id: result.video.id })
  });
  console.log(s);
}
