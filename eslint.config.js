import js from '@eslint/js';
import { createNodeResolver, importX } from 'eslint-plugin-import-x';
import reactHooks from 'eslint-plugin-react-hooks';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'dist',
      'node_modules',
      'runs',
      'public/models',
      'test/fixtures',
      'test-results',
      'tools/export',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        console: 'readonly',
        process: 'readonly',
        performance: 'readonly',
        URL: 'readonly',
        fetch: 'readonly',
        TextDecoder: 'readonly',
        structuredClone: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      // no attribute, URL parameter or model field may ever reach HTML parsing
      'no-restricted-syntax': [
        'error',
        {
          selector: 'MemberExpression[property.name=/^(innerHTML|outerHTML)$/]',
          message: 'use textContent or React',
        },
        { selector: "CallExpression[callee.property.name='insertAdjacentHTML']", message: 'use DOM nodes' },
        { selector: "JSXAttribute[name.name='dangerouslySetInnerHTML']", message: 'render text, not HTML' },
      ],
    },
  },
  {
    // an import cycle ties two modules into one that cannot be read, tested or moved apart
    files: ['src/**/*.{ts,tsx}'],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/extensions': ['.ts', '.tsx', '.mjs', '.js'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts', '.tsx'] },
      'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.tsx', '.mjs', '.js'] })],
    },
    rules: { 'import-x/no-cycle': ['error', { ignoreExternal: true }] },
  },
  {
    // page.evaluate callbacks run in the browser
    files: ['test/e2e/**/*.mjs'],
    languageOptions: { globals: { document: 'readonly', window: 'readonly', getComputedStyle: 'readonly' } },
  },
  {
    files: ['src/ui/**/*.{ts,tsx}', 'src/widget/**/*.{ts,tsx}'],
    plugins: { 'react-hooks': reactHooks },
    rules: reactHooks.configs.recommended.rules,
  },
  {
    // the runtime is pure TypeScript: no DOM, no React, no upward imports (ui → worker → runtime)
    files: ['src/runtime/**/*.ts'],
    rules: {
      'no-restricted-globals': ['error', 'document', 'window', 'localStorage', 'HTMLElement'],
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            '**/ui/**',
            '**/worker/**',
            '**/session/**',
            '**/api/**',
            '**/node/**',
            '**/cli/**',
            'react',
            'react-dom',
            'node:*',
            'comlink',
          ],
        },
      ],
    },
  },
  {
    files: ['src/worker/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            '**/ui/**',
            '**/widget/**',
            '**/session/**',
            '**/cli/**',
            '**/bench/**',
            'react',
            'react-dom',
          ],
        },
      ],
    },
  },
  {
    // the engine API sits on the session; nothing it ships may pull in a view, the CLI or a benchmark
    files: ['src/api/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            '**/ui/**',
            '**/widget/**',
            '**/components/**',
            '**/cli/**',
            '**/bench/**',
            'react',
            'react-dom',
          ],
        },
      ],
    },
  },
  {
    // Node's adapters for the runtime: files and onnxruntime-web's Node build, nothing above
    files: ['src/node/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            '**/ui/**',
            '**/widget/**',
            '**/components/**',
            '**/session/**',
            '**/worker/**',
            '**/api/**',
            '**/cli/**',
            '**/bench/**',
          ],
        },
      ],
    },
  },
  {
    // the session is framework-free: the page and the widget bind to it, never the reverse
    files: ['src/session/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            '**/ui/**',
            '**/widget/**',
            '**/components/**',
            '**/cli/**',
            '**/bench/**',
            'react',
            'react-dom',
          ],
        },
      ],
    },
  },
  {
    // views take runtime values only through the parameter descriptors (and the image helpers);
    // types come from anywhere. The widget never imports the page, the components neither.
    files: ['src/ui/**/*.{ts,tsx}', 'src/widget/**/*.{ts,tsx}', 'src/components/**/*.{ts,tsx}'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '(^|/)runtime(/(?!(params|batching|image)$)[^/]+)?$',
              allowTypeImports: true,
              message: 'import runtime values through runtime/params (the descriptors); types are fine',
            },
            {
              group: ['**/cli/**', '**/bench/**'],
              message: 'the product does not import the CLI or the benchmarks',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/widget/**/*.{ts,tsx}', 'src/components/**/*.{ts,tsx}'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['**/ui/**'], message: 'the widget and the shared components never import the page' },
          ],
        },
      ],
    },
  },
  {
    // a file past ~300 lines says why in its opening comment (an eslint-disable with a reason)
    files: ['src/**/*.{ts,tsx}'],
    rules: { 'max-lines': ['error', { max: 300, skipBlankLines: true, skipComments: true }] },
  },
);
