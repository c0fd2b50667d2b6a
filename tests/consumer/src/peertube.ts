// A single-provider entry: `chunkup/peertube` (bundler build, only PeerTube in its wasm), the file
// going through the UploadQueue of `chunkup/peertube/queue`, which uses that same module: the
// built app holds one wasm, PeerTube's (tests/e2e/entries.test.mjs checks).
import init, { UploadError } from 'chunkup/peertube';
import { UploadQueue } from 'chunkup/peertube/queue';
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

mount('chunkup/peertube', init, start, UploadError);
