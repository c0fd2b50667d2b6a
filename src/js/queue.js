// chunkup/queue: many uploads at once, at most `concurrency` of them sending, with events per file
// and for the whole queue. Plain JS on top of `Upload` (see queue.d.ts and docs/api.md).
import { Upload } from './chunkup.js';

const SETTLED = ['done', 'error', 'cancelled'];
const report = e => (globalThis.reportError ?? console.error)(e);

/** One entry of an UploadQueue: a File/Blob, or several files uploaded as one (MangaDex pages). */
export class QueueItem {
  #queue;
  constructor(queue, id, input, options) {
    this.#queue = queue;
    this.id = id;
    this.input = input;
    this.options = options;
    const files = input instanceof Blob ? [input] : Array.from(input);
    this.name = files.length === 1 ? files[0].name ?? 'blob' : `${files.length} files`;
    this.size = files.reduce((n, f) => n + f.size, 0);
    this.state = 'queued';
    this.loaded = 0;
    this.total = this.size;
    this.bytesPerSecond = 0;
    this.result = undefined;
    this.error = undefined;
    this.upload = null;
    this.settled = new Promise(resolve => { this._resolve = resolve; });
  }
  /** Seconds until done at the current speed (Infinity when nothing is moving). */
  get secondsLeft() {
    return this.bytesPerSecond > 0 ? (this.total - this.loaded) / this.bytesPerSecond : this.loaded >= this.total ? 0 : Infinity;
  }
  pause() { this.#queue.pause(this); }
  resume() { this.#queue.resume(this); }
  cancel() { return this.#queue.cancel(this); }
}

export class UploadQueue {
  #items = [];
  #waiters = [];
  #seq = 0;
  #events;
  #options;
  #create;

  constructor(options = {}) {
    const { concurrency = 3, createUpload, onFileStart, onFileState, onFileProgress, onFileDone, onFileError, onFileCancel, onProgress, ...rest } = options;
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError('UploadQueue: concurrency must be an integer >= 1');
    this.concurrency = concurrency;
    this.#events = { onFileStart, onFileState, onFileProgress, onFileDone, onFileError, onFileCancel, onProgress };
    this.#options = rest;
    this.#create = createUpload ?? ((input, opts) => new Upload(input, opts));
  }

  /**
   * Queues `input`: a File/Blob (one item), or a FileList/array whose entries are each one item;
   * an entry that is itself an array or FileList is one item of several files. `options` (an object,
   * or a function of the item's input returning one, possibly async) is merged over the queue's.
   */
  add(input, options) {
    const list = input instanceof Blob ? [input] : Array.from(input ?? []);
    const items = list.map(entry => {
      const ok = entry instanceof Blob || (typeof entry === 'object' && entry !== null && Array.from(entry).every(f => f instanceof Blob));
      if (!ok) throw new TypeError('UploadQueue.add: expected File, Blob, FileList or an array of them');
      return new QueueItem(this, ++this.#seq, entry instanceof Blob ? entry : Array.from(entry), options);
    });
    this.#items.push(...items);
    for (const item of items) this.#emit('onFileState', item);
    this.#pump();
    this.#overall();
    return items;
  }

  get items() { return this.#items.slice(); }

  /** Totals over every item that is not cancelled; `bytesPerSecond` sums the items sending now. */
  get progress() {
    const p = { loaded: 0, total: 0, bytesPerSecond: 0, files: this.#items.length, queued: 0, uploading: 0, paused: 0, done: 0, error: 0, cancelled: 0 };
    for (const i of this.#items) {
      p[i.state]++;
      if (i.state === 'cancelled') continue;
      p.loaded += i.loaded;
      p.total += i.total;
      if (i.state === 'uploading') p.bytesPerSecond += i.bytesPerSecond;
    }
    return p;
  }

  /** Pauses one item, or every unfinished one. A paused upload gives its slot to the next item. */
  pause(item) {
    for (const i of item ? [item] : this.#items) {
      if (i.state !== 'queued' && i.state !== 'uploading') continue;
      i.upload?.pause();
      i.bytesPerSecond = 0;
      this.#set(i, 'paused');
    }
    this.#pump();
  }

  /** Resumes one paused item, or every paused one; they wait for a free slot. */
  resume(item) {
    for (const i of item ? [item] : this.#items) if (i.state === 'paused') this.#set(i, 'queued');
    this.#pump();
  }

  /** Cancels one item, or every unfinished one (the provider's session is deleted where it can be). */
  async cancel(item) {
    const aborts = [];
    for (const i of item ? [item] : this.#items) {
      if (SETTLED.includes(i.state)) continue;
      i.bytesPerSecond = 0;
      this.#set(i, 'cancelled');
      if (i.upload) aborts.push(i.upload.abort().catch(report)); // start() then rejects: #run settles it
      else this.#settle(i);
    }
    this.#pump();
    await Promise.all(aborts);
  }

  /** Removes the settled items (their bytes leave the totals). */
  clear() {
    this.#items = this.#items.filter(i => !SETTLED.includes(i.state));
    this.#overall();
  }

  /** Resolves with every item once none is queued, uploading or paused. Never rejects. */
  settled() {
    return new Promise(resolve => { this.#waiters.push(resolve); this.#check(); });
  }

  #emit(name, ...args) {
    try { this.#events[name]?.(...args); } catch (e) { report(e); }
  }

  #overall() { this.#emit('onProgress', this.progress); }

  #set(item, state) {
    item.state = state;
    this.#emit('onFileState', item);
    this.#overall();
  }

  #pump() {
    for (const item of this.#items) {
      if (this.#items.filter(i => i.state === 'uploading').length >= this.concurrency) break;
      if (item.state === 'queued') this.#run(item);
    }
    this.#check();
  }

  async #run(item) {
    this.#set(item, 'uploading');
    if (item.upload) return item.upload.resume(); // paused earlier: continue where the server is
    try {
      const extra = typeof item.options === 'function' ? await item.options(item.input, item) : item.options;
      if (item.state !== 'uploading') return; // paused or cancelled (and settled) meanwhile
      item.upload = this.#create(item.input, {
        ...this.#options, ...extra,
        onProgress: p => {
          if (item.state === 'cancelled') return;
          item.loaded = Math.max(item.loaded, p.loaded);
          item.total = p.total;
          item.bytesPerSecond = item.state === 'uploading' ? p.bytesPerSecond : 0;
          this.#emit('onFileProgress', item, p);
          this.#overall();
        }
      });
      this.#emit('onFileStart', item);
      const result = await item.upload.start();
      if (item.state === 'cancelled') throw new Error('cancelled');
      item.result = result;
      item.loaded = item.total;
      item.bytesPerSecond = 0;
      this.#set(item, 'done');
      this.#emit('onFileDone', item, result);
    } catch (e) {
      item.bytesPerSecond = 0;
      if (item.state === 'cancelled' || e?.code === 'aborted') {
        if (item.state !== 'cancelled') this.#set(item, 'cancelled');
      } else {
        item.error = e;
        this.#set(item, 'error');
        this.#emit('onFileError', item, e);
      }
    }
    this.#settle(item);
  }

  #settle(item) {
    if (item.state === 'cancelled') this.#emit('onFileCancel', item);
    item._resolve(item);
    this.#pump();
    this.#overall();
  }

  #check() {
    if (!this.#waiters.length || this.#items.some(i => !SETTLED.includes(i.state))) return;
    const items = this.#items.slice();
    for (const resolve of this.#waiters.splice(0)) resolve(items);
  }
}
