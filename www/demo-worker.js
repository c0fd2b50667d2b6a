// Uploads run inside a dedicated Web Worker: the page posts each File (structured clone, no copy
// of the bytes) with its options and an id; the worker reports progress, the result or the error
// (as plain fields: an UploadError does not cross postMessage), and obeys pause/resume/abort.
import init, { Upload } from './pkg/chunkup.js';

const ready = init();
const uploads = new Map(); // id → Upload

self.onmessage = async ({ data }) => {
  await ready;
  const { id } = data;
  switch (data.type) {
    case 'start': {
      try {
        const upload = new Upload(data.input, { ...data.options, onProgress: p => self.postMessage({ type: 'progress', id, p }) });
        uploads.set(id, upload);
        const result = await upload.start();
        self.postMessage({ type: 'done', id, result });
      } catch (e) {
        self.postMessage({ type: 'error', id, error: { code: e.code, status: e.status, retryable: e.retryable, provider: e.provider, message: e.message } });
      } finally {
        uploads.delete(id);
      }
      break;
    }
    case 'pause': uploads.get(id)?.pause(); break;
    case 'resume': uploads.get(id)?.resume(); break;
    case 'abort': await uploads.get(id)?.abort(); break;
  }
};
