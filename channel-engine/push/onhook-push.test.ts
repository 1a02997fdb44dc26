import { isFixpayError } from '../../domain/errors';
import { demodulateMessages, encodeMessage, MESSAGE_TYPE } from '../callerid';
import { loadProfiles } from '../profiles';
import { buildPushMessage, pushAudio, pushAudioFor, pushDateTime, pushTextOf } from './onhook-push';

const AT = Date.UTC(2026, 11, 3, 16, 45);

describe('on-hook push', () => {
  it('is an MDMF call set-up: date-time, number, then the text as the name', () => {
    const m = buildPushMessage({ text: 'Hello', sender: '95566', atMs: AT, utcOffsetMinutes: 480 });
    const bytes = encodeMessage(m);
    expect(bytes[0]).toBe(MESSAGE_TYPE.callSetup);
    expect(Buffer.from(bytes.subarray(2, bytes.length - 1)).toString('latin1')).toBe(
      '\x01\x0812040045\x02\x0595566\x07\x05Hello',
    );
  });

  it('writes the local date-time across a year end', () => {
    expect(pushDateTime(Date.UTC(2026, 11, 31, 23, 30), 60)).toBe('01010030');
  });

  it.each([...loadProfiles().values()].map((p) => [p.id, p] as const))(
    'round-trips through the receiver on profile %s',
    (_id, profile) => {
      const text = 'Bill due 30 Nov';
      const got = demodulateMessages(pushAudioFor({ text, sender: '95566' }, profile, AT), profile.modem.modulation);
      expect(got).toHaveLength(1);
      expect(got[0]?.ok === true && pushTextOf(got[0].message)).toBe(text);
    },
  );

  it('refuses text that does not fit the profile display, or is unsafe', () => {
    const profile = loadProfiles().get('v23-compact-crc16');
    if (profile === undefined) throw new Error('profile missing');
    const code = (f: () => unknown): string => {
      try {
        f();
      } catch (e) {
        return isFixpayError(e) ? e.codeName : 'other';
      }
      return 'none';
    };
    expect(code(() => pushAudioFor({ text: 'x'.repeat(33) }, profile, AT))).toBe('PUSH_TEXT_TOO_LONG');
    expect(code(() => pushAudioFor({ text: 'Pay \u202Ewon' }, profile, AT))).toBe('PUSH_TEXT_UNSAFE');
    expect(code(() => pushAudio({ text: 'ok', sender: '12ab', atMs: AT }, { modulation: 'v23' }))).toBe(
      'CALLERID_BAD_MESSAGE',
    );
  });
});
