import { describe, expect, it } from 'vitest';
import { heapGrowthSetByOperator } from '../src/heap.js';

describe('heapGrowthSetByOperator', () => {
  it.each([
    [['--heap-growing-percent=300'], undefined, true],
    [['--heap_growing_percent=300'], undefined, true],
    [[], '--max-old-space-size=512 --heap-growing-percent=120', true],
    [['--max-old-space-size=512'], '--enable-source-maps', false],
    [[], undefined, false],
  ])('execArgv %j, NODE_OPTIONS %j → %s', (execArgv, nodeOptions, expected) => {
    expect(heapGrowthSetByOperator(execArgv, nodeOptions)).toBe(expected);
  });
});
