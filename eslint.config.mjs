import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/**", ".tools/**", "coverage/**", "**/*.js", "**/*.mjs"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    // Type-aware rules: the checker knows what an assertion or a promise really is.
    files: ["**/*.ts"],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      "@typescript-eslint/no-unnecessary-type-assertion": "error",
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": "error",
      "@typescript-eslint/await-thenable": "error",
    },
  },
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-console": "off",
    },
  },
  {
    // The profile is resolved once, in stacks/config/settings.ts: components and the wiring get
    // named settings (replicas, protect, failClosed, ...), never the profile itself.
    files: ["components/**/*.ts", "stacks/wiring/**/*.ts"],
    rules: {
      "no-restricted-syntax": [
        "error",
        {
          selector: "MemberExpression[property.name='profile']",
          message: "Read a resolved setting (stacks/config/settings.ts), not the profile.",
        },
        {
          selector: "TSPropertySignature[key.name='profile']",
          message: "Components take named settings, never a profile (stacks/config/settings.ts resolves it).",
        },
      ],
    },
  },
  {
    // Tests build deliberately malformed configs and objects.
    files: ["test/**/*.ts", "**/test/**/*.ts"],
    rules: { "@typescript-eslint/no-explicit-any": "off" },
  },
);
