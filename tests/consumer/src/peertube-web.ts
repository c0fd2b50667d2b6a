// `chunkup/peertube/web`: the web build of the PeerTube-only entry, with its own UploadQueue
// (`chunkup/peertube/web/queue`); init() fetches the PeerTube-only wasm.
import init, { UploadError } from 'chunkup/peertube/web';
import { UploadQueue } from 'chunkup/peertube/web/queue';
import { mount, type Start } from './page';

const start: Start = (file, { onProgress, ...options }) => new Promise((resolve, reject) => {
  const queue = new UploadQueue({
    ...options,
    onFileProgress: (_item, p) => onProgress?.(p),
    onFileDone: (_item, result) => resolve(result as Awaited<ReturnType<Start>>),
    onFileError: (_item, error) => reject(error)
  });
  queue.add(file);
});

mount('chunkup/peertube/web', init, start, UploadError);
