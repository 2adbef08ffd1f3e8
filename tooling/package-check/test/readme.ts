import { readFileSync } from 'node:fs';

/** One fenced code block of a Markdown file. */
export interface Snippet {
  /** The fence's language: `ts`, `tsx`, `sh`, … */
  lang: string;
  /** The `## ` section it is in (`'top'` before the first one). */
  section: string;
  /** Its position among the blocks of its section, from 1. */
  index: number;
  /** `section #index (lang)`: how the test names it. */
  id: string;
  /** The code between the fences. */
  code: string;
  /** The line of its opening fence, from 1. */
  line: number;
}

/** Every fenced block (```lang … ```) of a Markdown text, with the `## ` section it is in. */
export function snippets(markdown: string): Snippet[] {
  const out: Snippet[] = [];
  const lines = markdown.split('\n');
  let section = 'top';
  const counts = new Map<string, number>();
  for (let i = 0; i < lines.length; i++) {
    const heading = /^## (.+)$/.exec(lines[i]!);
    if (heading) {
      section = heading[1]!.trim();
      continue;
    }
    const fence = /^```(\S*)\s*$/.exec(lines[i]!);
    if (!fence) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++) body.push(lines[i]!);
    if (i >= lines.length) throw new Error(`README line ${start + 1}: a code fence that never closes`);
    const index = (counts.get(section) ?? 0) + 1;
    counts.set(section, index);
    const lang = fence[1] ?? '';
    out.push({
      lang,
      section,
      index,
      id: `${section} #${index} (${lang})`,
      code: `${body.join('\n')}\n`,
      line: start + 1,
    });
  }
  return out;
}

/** The top README's snippets in the languages this test runs (`ts`, `tsx`, `sh`). */
export function readmeSnippets(file: string): Snippet[] {
  return snippets(readFileSync(file, 'utf8')).filter((s) => ['ts', 'tsx', 'sh'].includes(s.lang));
}

/** A snippet the test does not run, and why; `matches` guards that it is still the snippet the reason is about. */
export interface NotRun {
  id: string;
  reason: string;
  matches: RegExp;
}

/**
 * The README's snippets that cannot run here. Anything else in `ts`, `tsx` or `sh` must be run by the test: a new
 * snippet that is neither run nor listed here fails it.
 */
export const NOT_RUN: readonly NotRun[] = [
  {
    id: 'top #1 (sh)',
    reason:
      'the repository-level commands (`pnpm install && pnpm start`, `pnpm test`): they work on the workspace, not on ' +
      'the published packages, and `pnpm test` runs this very test (it would recurse)',
    matches: /pnpm install && pnpm start[\s\S]*pnpm test/,
  },
  {
    id: 'Run it in containers #1 (sh)',
    reason: 'docker build/run: no Docker engine on these machines (tooling/deploy-check runs the Dockerfile steps)',
    matches: /^docker build[\s\S]*docker run /m,
  },
  {
    id: 'Run it in containers #2 (sh)',
    reason: 'docker compose up: no Docker engine on these machines (tooling/deploy-check checks the compose file)',
    matches: /docker compose -f deploy\/docker-compose\.yml up/,
  },
];

/** The snippets the test runs, by id: each is run by the test of the same name. */
export const RUN = {
  server: 'Use it in your server #1 (ts)',
  browser: 'Use it in your server #2 (ts)',
  react: 'Use it in your server #3 (tsx)',
  cli: 'Run it as a server #1 (sh)',
} as const;
