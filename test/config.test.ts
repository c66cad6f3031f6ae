import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, helpText, parseConfig, parseRpcAddresses, type Config } from '../src/config.js';

function configOf(argv: string[], env: NodeJS.ProcessEnv = {}): Config {
  const parsed = parseConfig(argv, env);
  assert.equal(parsed.help, false);
  return (parsed as { config: Config }).config;
}

describe('config', () => {
  it('has documented defaults', () => {
    const config = configOf(['start']);
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.httpPort, 8080);
    assert.equal(config.rpcPort, 8888);
    assert.equal(config.store, 'sqlite:./data/im.sqlite');
    assert.equal(config.rpcTimeoutMs, 1000);
    assert.equal(config.maxTextBytes, 16384);
    assert.equal(config.logLevel, 'info');
  });

  it('flag overrides environment', () => {
    const config = configOf(['start', '--http-port', '9000'], { HTTP_PORT: '9100', RPC_PORT: '9200' });
    assert.equal(config.httpPort, 9000);
    assert.equal(config.rpcPort, 9200);
  });

  it('reads the gateway addresses', () => {
    const config = configOf(['http'], { RPC_ADDR: '127.0.0.1:8888, [::1]:8889' });
    assert.deepEqual(config.rpcAddresses, [
      { host: '127.0.0.1', port: 8888 },
      { host: '::1', port: 8889 },
    ]);
  });

  it('rejects bad values naming the option', () => {
    const cases: [string[], NodeJS.ProcessEnv, RegExp][] = [
      [['start'], { HTTP_PORT: 'abc' }, /--http-port \(HTTP_PORT\) "abc"/],
      [['start'], { RPC_PORT: '70000' }, /--rpc-port \(RPC_PORT\)/],
      [['start'], { IM_STORE: 'bogus' }, /--store \(IM_STORE\) "bogus".*sqlite:PATH/],
      [['start'], { LOG_LEVEL: 'loud' }, /--log-level/],
      [['start', '--max-text-bytes', '0'], {}, /--max-text-bytes/],
      [['start', '--rpc-timeout-ms', '-5'], {}, /--rpc-timeout-ms/],
      [['http'], {}, /missing --rpc-addr/],
      [['http', '--rpc-addr', 'localhost'], {}, /--rpc-addr.*host:port/],
      [['launch'], {}, /unknown command "launch"/],
      [[], {}, /missing command/],
      [['start', '--nope', '1'], {}, /--nope/],
    ];
    for (const [argv, env, message] of cases) {
      assert.throws(
        () => parseConfig(argv, env),
        (error: Error) => {
          assert.ok(error instanceof ConfigError, `${argv.join(' ')} raises ConfigError`);
          assert.match(error.message, message);
          return true;
        },
      );
    }
  });

  it('rejects unknown and valueless options', () => {
    assert.throws(() => parseConfig(['start', '--bogus'], {}), {
      name: 'ConfigError',
      message: 'unknown option --bogus; run im-service --help for the options',
    });
    for (const argv of [
      ['start', '--http-port'],
      ['start', '--max-text-bytes', '-5'],
    ]) {
      assert.throws(
        () => parseConfig(argv, {}),
        (error: Error) =>
          error instanceof ConfigError && /option --\S+ is missing its value; write --\S+ VALUE/.test(error.message),
        argv.join(' '),
      );
    }
  });

  it('rejects an invalid address list', () => {
    assert.throws(() => parseRpcAddresses('127.0.0.1:0'), ConfigError);
    assert.throws(() => parseRpcAddresses('127.0.0.1:8888,'), ConfigError);
  });

  it('help lists every option with its default', () => {
    const help = helpText();
    for (const name of ['HTTP_PORT', 'RPC_PORT', 'HOST', 'IM_STORE', 'RPC_ADDR', 'LOG_LEVEL', 'MAX_TEXT_BYTES']) {
      assert.match(help, new RegExp(name));
    }
    assert.match(help, /default 8080/);
    assert.match(help, /default sqlite:\.\/data\/im\.sqlite/);
    assert.deepEqual(parseConfig(['--help'], {}), { help: true });
  });
});
