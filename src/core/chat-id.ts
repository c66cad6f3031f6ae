import { invalidArgument } from './errors.js';

/** Maximum length of a member id, in Unicode code points (an emoji counts as one). */
export const MAX_MEMBER_ID_LENGTH = 64;

/** Number of Unicode code points in a string; a lone surrogate counts as one. */
export function codePointLength(value: string): number {
  let count = 0;
  for (const _codePoint of value) count++;
  return count;
}

// Whitespace (Unicode White_Space), C0/C1 control characters and the separator.
const FORBIDDEN_IN_MEMBER_ID = /[\s\p{Cc}:]/u;

/** A canonical chat id: two member ids sorted by code unit and joined by one ':'. */
export interface ChatId {
  readonly id: string;
  readonly members: readonly [string, string];
}

/** Returns the reason a member id is invalid, or undefined when it is valid. */
export function memberIdProblem(member: string): string | undefined {
  if (member.length === 0) return 'is empty';
  // Thrift and SQLite carry strings as UTF-8, which turns a lone surrogate into
  // U+FFFD, so such an id would name a different chat behind the gateway.
  if (!member.isWellFormed()) return 'contains a lone UTF-16 surrogate (member ids must be valid Unicode)';
  // The code unit count is an upper bound of the code point count, so short ids skip the count.
  if (member.length > MAX_MEMBER_ID_LENGTH) {
    const length = codePointLength(member);
    if (length > MAX_MEMBER_ID_LENGTH) return `is ${length} characters long (maximum ${MAX_MEMBER_ID_LENGTH})`;
  }
  if (FORBIDDEN_IN_MEMBER_ID.test(member)) return "contains ':', whitespace or a control character";
  return undefined;
}

export function assertMemberId(field: string, member: string): void {
  const problem = memberIdProblem(member);
  if (problem !== undefined) {
    throw invalidArgument(
      `${field} ${JSON.stringify(member)} ${problem}; a member id is 1-${MAX_MEMBER_ID_LENGTH} characters without ':', whitespace or control characters`,
    );
  }
}

/** Builds the canonical chat of two members; the order of the arguments does not matter. */
export function chatOf(memberA: string, memberB: string): ChatId {
  const [low, high] = memberA <= memberB ? [memberA, memberB] : [memberB, memberA];
  return { id: `${low}:${high}`, members: [low, high] };
}

/**
 * Parses `a:b` into its canonical form (`b:a` becomes `a:b`). Member ids are
 * case-sensitive and `a:a` (a chat with oneself) is allowed.
 * Throws INVALID_ARGUMENT naming `field` when the id is malformed.
 */
export function parseChatId(value: string, field = 'chat'): ChatId {
  const parts = value.split(':');
  if (parts.length !== 2) {
    throw invalidArgument(
      `${field} ${JSON.stringify(value)} is invalid; expected two member ids joined by one ':', such as "alice:bob"`,
    );
  }
  const [first, second] = parts as [string, string];
  for (const member of [first, second]) {
    const problem = memberIdProblem(member);
    if (problem !== undefined) {
      throw invalidArgument(
        `${field} ${JSON.stringify(value)} is invalid: member ${JSON.stringify(member)} ${problem}; expected two member ids of 1-${MAX_MEMBER_ID_LENGTH} characters without ':', whitespace or control characters, joined by ':'`,
      );
    }
  }
  return chatOf(first, second);
}
