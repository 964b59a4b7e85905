/**
 * The reader of nghttp's frame log, on logs shaped like those nghttp 1.52 prints (`nghttp -v`,
 * trimmed): what it takes from them, and that it refuses a log it cannot account for byte by byte.
 */
import { describe, expect, it } from 'vitest';
import { parseNghttpLog } from './nghttp.js';

/** A gRPC message frame, as nghttp writes it to stdout: raw bytes, no newline after. */
const PAYLOAD = Buffer.from([0, 0, 0, 0, 3, 0x08, 0x01, 0x10]);

function log(...parts: Array<string | Buffer>): Buffer {
  return Buffer.concat(parts.map((part) => (typeof part === 'string' ? Buffer.from(part, 'latin1') : part)));
}

const OPENED = `[  0.000] Connected
[  0.000] send SETTINGS frame <length=12, flags=0x00, stream_id=0>
          (niv=2)
          [SETTINGS_MAX_CONCURRENT_STREAMS(0x03):100]
          [SETTINGS_INITIAL_WINDOW_SIZE(0x04):65535]
[  0.001] send HEADERS frame <length=81, flags=0x24, stream_id=13>
          ; END_HEADERS | PRIORITY
          (padlen=0, dep_stream_id=11, weight=16, exclusive=0)
          ; Open new stream
          :method: POST
          :path: /test.Echo/Echo
          content-type: application/grpc
[  0.001] send DATA frame <length=8, flags=0x01, stream_id=13>
          ; END_STREAM
[  0.002] recv (stream_id=13) :status: 200
[  0.002] recv (stream_id=13) content-type: application/grpc
[  0.002] recv HEADERS frame <length=14, flags=0x04, stream_id=13>
          ; END_HEADERS
          (padlen=0)
          ; First response header
`;

const ENDED = `[  0.002] recv DATA frame <length=8, flags=0x00, stream_id=13>
[  0.002] recv (stream_id=13) grpc-status: 0
[  0.002] recv HEADERS frame <length=12, flags=0x05, stream_id=13>
          ; END_STREAM | END_HEADERS
          (padlen=0)
[  0.003] recv RST_STREAM frame <length=4, flags=0x00, stream_id=13>
          (error_code=NO_ERROR(0x00))
[  0.003] recv GOAWAY frame <length=8, flags=0x00, stream_id=0>
          (last_stream_id=13, error_code=PROTOCOL_ERROR(0x01), opaque_data(0)=[])
[  0.003] send GOAWAY frame <length=8, flags=0x00, stream_id=0>
          (last_stream_id=0, error_code=NO_ERROR(0x00), opaque_data(0)=[])
`;

describe('parseNghttpLog', () => {
  it('reads streams, header blocks, DATA payloads written before their frame line, resets and GOAWAY', () => {
    expect(parseNghttpLog(log(OPENED, PAYLOAD, ENDED))).toEqual({
      connections: 1,
      goaways: ['PROTOCOL_ERROR'],
      streams: [
        {
          id: 13,
          path: '/test.Echo/Echo',
          headerBlocks: [
            {
              fields: [
                [':status', '200'],
                ['content-type', 'application/grpc'],
              ],
              endStream: false,
            },
            { fields: [['grpc-status', '0']], endStream: true },
          ],
          data: [PAYLOAD],
          resets: ['NO_ERROR'],
        },
      ],
    });
  });

  it('refuses a payload shorter than its frame says', () => {
    expect(() => parseNghttpLog(log(OPENED.replace(/\n$/, ''), PAYLOAD.subarray(1), ENDED))).toThrow(
      /^nghttp log: no 8-byte payload before "recv DATA frame <length=8, flags=0x00, stream_id=13>\\n"$/,
    );
  });

  it('refuses bytes no frame accounts for', () => {
    const unaccounted = ENDED.replace('recv DATA frame', 'recv PING frame');
    expect(() => parseNghttpLog(log(OPENED, PAYLOAD, unaccounted))).toThrow(
      'nghttp log: unexpected "\\u0000\\u0000\\u0000\\u0000\\u0003\\b\\u0001\\u0010" after recv HEADERS frame <length=14, flags=0x04, stream_id=13>',
    );
  });
});
