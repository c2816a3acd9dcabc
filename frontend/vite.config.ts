/// <reference types="vitest/config" />
import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'

export default defineConfig(({ command }) => ({
  plugins: [vue()],
  // The app uses the Composition API only: drop the Options API from the production bundle.
  define: command === 'build' ? { __VUE_OPTIONS_API__: 'false', __VUE_PROD_DEVTOOLS__: 'false' } : {},
  build: {
    // Phones: browsers from the last few years (Safari 14+, Chrome 87+).
    target: 'es2020',
    sourcemap: false,
  },
  server: { port: 5173 },
  preview: { port: 4173 },
  test: {
    environment: 'happy-dom',
    include: ['tests/**/*.test.ts'],
    restoreMocks: true,
  },
}))
