import { readFileSync } from 'node:fs';
import { defineScript, type CommandParser } from 'redis';

/**
 * The send script (redis-send.lua beside this file), read once when the module
 * loads. node-redis runs a defined script by EVALSHA and, when the server
 * replies NOSCRIPT (after a restart or SCRIPT FLUSH), sends it again by EVAL.
 * The build copies the .lua file into dist/store/.
 */
const SEND_SCRIPT_SOURCE = readFileSync(new URL('./redis-send.lua', import.meta.url), 'utf8');

/** Script definitions to pass as the `scripts` option of createClient and createCluster. */
export const REDIS_SCRIPTS = {
  imSend: defineScript({
    SCRIPT: SEND_SCRIPT_SOURCE,
    NUMBER_OF_KEYS: 2,
    parseCommand(parser: CommandParser, messagesKey: string, clientMsgIdsKey: string, scriptArguments: string[]) {
      parser.pushKey(messagesKey);
      parser.pushKey(clientMsgIdsKey);
      parser.pushVariadic(scriptArguments);
    },
    transformReply(reply: unknown): string {
      if (typeof reply !== 'string') throw new TypeError(`the send script returned ${typeof reply}, expected a string`);
      return reply;
    },
  }),
};
