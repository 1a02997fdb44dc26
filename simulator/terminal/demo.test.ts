import { DEMO } from '../../demo/seed';
import { demoTerminalConfig } from './demo';

describe('demo terminal configs', () => {
  it('each demo phone dials from its bound number and speaks the profile its terminal is registered with', () => {
    DEMO.terminals.forEach((t, i) => {
      const config = demoTerminalConfig(i, 'tcp-pcm', {}, '/');
      expect(config.line.callerNumber).toBe(t.ani);
      expect(config.profile).toBe(t.deviceProfileId);
    });
  });
});
