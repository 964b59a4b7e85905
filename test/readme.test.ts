/** The README is part of the interface: its flag table and metric names must match the code. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { METRIC_NAMES } from '../src/metrics.js';
import { settingsMarkdownTable } from '../src/settings.js';

const README = readFileSync(join(import.meta.dirname, '../README.md'), 'utf8');

describe('README', () => {
  it('shows the run and test commands', () => {
    expect(README).toContain('npm ci && npm start');
    expect(README).toContain('npm ci && npm test');
  });

  it('has the configuration table generated from the settings', () => {
    expect(README).toContain(settingsMarkdownTable().trim());
  });

  it('documents every metric', () => {
    for (const name of Object.values(METRIC_NAMES)) expect(README).toContain(`\`${name}\``);
  });
});
