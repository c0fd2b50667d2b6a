// `chunkup` (the --target bundler build) imports its .wasm as an ES module: Vite needs
// vite-plugin-wasm for that. `chunkup/web` needs no plugin (it fetches the .wasm itself).
import { defineConfig } from 'vite';
import wasm from 'vite-plugin-wasm';

export default defineConfig({
  plugins: [wasm()],
  build: {
    target: 'es2022', // top-level await (the bundler build instantiates the module on import)
    rollupOptions: { input: { main: 'index.html', web: 'web.html' } }
  },
  optimizeDeps: { exclude: ['chunkup'] } // keep the .wasm next to its glue in `vite dev`
});
