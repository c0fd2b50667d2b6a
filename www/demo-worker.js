// The same upload, run inside a dedicated Web Worker: the page posts the File (structured clone,
// no copy of the bytes) and the options; the worker reports progress, the result or the error.
import init, { Upload } from './pkg/chunkup.js';

const ready = init();
let upload = null;

self.onmessage = async ({ data }) => {
  await ready;
  switch (data.type) {
    case 'start': {
      const options = { ...data.options, onProgress: p => self.postMessage({ type: 'progress', p }) };
      try {
        upload = new Upload(data.file, options);
        const result = await upload.start();
        self.postMessage({ type: 'done', result });
      } catch (e) {
        self.postMessage({ type: 'error', error: { code: e.code, status: e.status, retryable: e.retryable, provider: e.provider, message: e.message } });
      }
      break;
    }
    case 'pause': upload?.pause(); break;
    case 'resume': upload?.resume(); break;
    case 'abort': await upload?.abort(); break;
  }
};
