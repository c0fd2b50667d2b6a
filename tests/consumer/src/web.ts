// The web build: `init()` fetches chunkup_bg.wasm (Vite emits it as an asset).
import init, { Upload, UploadError } from 'chunkup/web';
import { mount } from './page';

mount('chunkup/web', init, (file, options) => new Upload(file, options).start(), UploadError);
