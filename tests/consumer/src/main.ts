// The bundler build: `import init, { … } from 'chunkup'` (init() resolves at once here).
import init, { Upload, UploadError } from 'chunkup';
import { mount } from './page';

mount('chunkup', init, (file, options) => new Upload(file, options).start(), UploadError);
