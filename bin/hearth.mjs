#!/usr/bin/env node
// The `hearth` command in a checkout: TypeScript runs through tsx, so there is no build step.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
