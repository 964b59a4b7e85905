/**
 * The README's runnable parts: fenced `sh` blocks are commands (run as a script, must succeed),
 * and plain fenced blocks whose first line starts with `$ ` are transcripts (each command's output
 * must be the lines printed under it). Other fenced blocks (diagrams, sample output) are text.
 */

export interface CommandBlock {
  readonly kind: 'commands';
  /** 1-based line of the opening fence, for failure messages. */
  readonly line: number;
  readonly lines: readonly string[];
}

export interface TranscriptStep {
  /** The command as written, continuation lines included. */
  readonly command: string;
  readonly output: string;
}

export interface TranscriptBlock {
  readonly kind: 'transcript';
  readonly line: number;
  readonly steps: readonly TranscriptStep[];
}

export type RunnableBlock = CommandBlock | TranscriptBlock;

export function readmeBlocks(markdown: string): RunnableBlock[] {
  const blocks: RunnableBlock[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const fence = /^```(\S*)\s*$/.exec(lines[i] as string);
    if (fence === null) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && lines[i] !== '```'; i++) body.push(lines[i] as string);
    if (fence[1] === 'sh') blocks.push({ kind: 'commands', line: start + 1, lines: body });
    else if (fence[1] === '' && body[0]?.startsWith('$ '))
      blocks.push({ kind: 'transcript', line: start + 1, steps: transcriptSteps(body) });
  }
  return blocks;
}

function transcriptSteps(body: readonly string[]): TranscriptStep[] {
  const steps: TranscriptStep[] = [];
  for (let i = 0; i < body.length;) {
    const command = [(body[i] as string).slice(2)];
    while ((body[i] as string).endsWith('\\') && i + 1 < body.length) command.push(body[++i] as string);
    const output: string[] = [];
    for (i++; i < body.length && !(body[i] as string).startsWith('$ '); i++) output.push(body[i] as string);
    steps.push({ command: command.join('\n'), output: output.join('\n') });
  }
  return steps;
}

/** The command a line runs, without a trailing `# comment`. */
export function commandOf(line: string): string {
  return line.replace(/\s+#.*$/, '').trim();
}
