// chunkup/form: one call turns a plain <form> with <input type=file> into chunked uploads. On
// submit the files go to the provider (progress shown next to each input); then the form is
// submitted without the files, carrying the provider's ids in hidden fields. See form.d.ts.
import { UploadQueue } from './queue.js';

/** The hidden fields each provider's result gives, as `<input name>_<key>`. */
export const RESULT_FIELDS = {
  peertube: r => ({ id: r?.video?.id, uuid: r?.video?.uuid, shortUUID: r?.video?.shortUUID }),
  'peertube-import': () => ({}),
  apivideo: r => ({ videoId: r?.videoId }),
  cloudreve: r => ({ uri: r?.uri, sessionId: r?.sessionId }),
  mangadex: r => ({ chapterId: r?.data?.id })
};

const fmt = n => {
  let i = 0;
  for (; n >= 1024 && i < 4; i++) n /= 1024;
  return `${n.toFixed(i ? 1 : 0)} ${['B', 'KiB', 'MiB', 'GiB', 'TiB'][i]}`;
};

/**
 * `options`: the Upload options (object, or a function returning them, possibly async, called at
 * each submit) plus `concurrency`, `fileOptions(file, input)`, `fields(result, item, input)`,
 * `submit` (default true), `onProgress`, `onDone(fields)`, `onError(error)`.
 */
export function enhanceForm(form, options) {
  let queue = null;
  let bypass = false;
  const ui = new Map(); // file input → { bar, out }
  const inputs = () => [...form.querySelectorAll('input[type=file]')];

  function widgets(input) {
    if (!ui.has(input)) {
      const bar = Object.assign(document.createElement('progress'), { className: 'chunkup-progress', max: 1, value: 0 });
      const out = Object.assign(document.createElement('output'), { className: 'chunkup-status' });
      out.setAttribute('aria-live', 'polite');
      input.after(bar, out);
      ui.set(input, { bar, out });
    }
    return ui.get(input);
  }

  const state = s => { form.dataset.chunkupState = s; };
  const lock = on => {
    for (const el of form.querySelectorAll('input[type=file], button, input[type=submit]')) el.disabled = on;
  };

  async function onSubmit(event) {
    if (bypass) return; // our own submit, after the uploads
    const used = inputs().filter(i => i.files?.length && !i.disabled);
    if (!used.length) return; // nothing to upload: a plain submit
    event.preventDefault();
    const submitter = event.submitter;
    lock(true);
    state('uploading');
    let onError;
    try {
      const resolved = typeof options === 'function' ? await options(form) : options;
      onError = resolved.onError;
      const { concurrency, fileOptions, fields, submit = true, onProgress, onDone, onError: _, ...rest } = resolved;
      const base = { ...rest };
      queue = new UploadQueue({
        ...base,
        concurrency: concurrency ?? 2,
        onProgress,
        onFileProgress: item => show(item),
        onFileState: item => show(item)
      });
      const owner = new Map();
      for (const input of used) {
        const files = [...input.files];
        // MangaDex: the files of one input are the pages of one chapter (one upload).
        const entries = base.provider === 'mangadex' ? [files] : files;
        for (const item of queue.add(entries, fileOptions && (f => fileOptions(f, input)))) owner.set(item, input);
      }
      function show() {
        for (const input of used) {
          const mine = queue.items.filter(i => owner.get(i) === input);
          const loaded = mine.reduce((n, i) => n + i.loaded, 0);
          const total = mine.reduce((n, i) => n + i.total, 0);
          const bps = mine.reduce((n, i) => n + (i.state === 'uploading' ? i.bytesPerSecond : 0), 0);
          const { bar, out } = widgets(input);
          bar.max = total || 1;
          bar.value = loaded;
          const left = bps > 0 ? `, ${Math.ceil((total - loaded) / bps)} s left` : '';
          out.textContent = `${fmt(loaded)} / ${fmt(total)} (${total ? Math.floor((loaded / total) * 100) : 0} %)${bps ? ` — ${fmt(bps)}/s${left}` : ''}`;
        }
      }
      show();
      const items = await queue.settled();
      const failed = items.find(i => i.state !== 'done');
      if (failed) throw failed.error ?? Object.assign(new Error('Upload cancelled'), { code: 'aborted' });

      // Hidden fields with the provider's ids, in file order; the file inputs stay out of the submit.
      for (const old of form.querySelectorAll('input[data-chunkup-field]')) old.remove();
      const values = [];
      for (const item of items) {
        const input = owner.get(item);
        const map = fields ? fields(item.result, item, input) : (RESULT_FIELDS[base.provider] ?? (() => ({})))(item.result);
        for (const [key, value] of Object.entries(map)) {
          if (value === undefined || value === null) continue;
          const hidden = Object.assign(document.createElement('input'), { type: 'hidden', name: `${input.name || 'file'}_${key}`, value: String(value) });
          hidden.dataset.chunkupField = '';
          form.append(hidden);
          values.push([hidden.name, hidden.value]);
        }
        widgets(input).out.textContent = 'Uploaded.';
      }
      state('done');
      onDone?.(values, items);
      lock(false);
      for (const input of used) input.disabled = true; // the bytes are already at the provider
      if (submit) {
        bypass = true;
        try {
          if (submitter && form.contains(submitter)) form.requestSubmit(submitter);
          else form.requestSubmit();
        } finally {
          bypass = false;
        }
      }
    } catch (e) {
      state('error');
      lock(false);
      const text = e?.code ? `${e.code}${e.status ? ` (HTTP ${e.status})` : ''}: ${e.message}` : String(e?.message ?? e);
      for (const input of used) widgets(input).out.textContent = `Upload failed — ${text}`;
      onError?.(e);
    } finally {
      queue = null;
    }
  }

  form.addEventListener('submit', onSubmit);
  return {
    /** Cancels the uploads in progress (the form is not submitted). */
    cancel: () => queue?.cancel(),
    /** Removes the submit handler. */
    destroy: () => form.removeEventListener('submit', onSubmit)
  };
}
