/** The policies the console tests serve: mesh `default`, inbound `backend` (app=payments). */
import { mesh, mtp, service, subset } from '../support/policies.js';
import { mtpYaml, policiesYaml } from '../support/policy-yaml.js';

const ZONE = { 'kuma.io/origin': 'zone' };

export const CONSOLE_POLICIES = policiesYaml(
  mtp('deny-all', mesh(), [[mesh(), 'Deny']]),
  mtp(
    'allow-orders',
    service('backend'),
    [
      [service('orders'), 'Allow'],
      [subset({ 'kuma.io/service': 'orders', version: 'v2' }), 'Deny'],
      [service('orders'), 'Allow'],
      [service('audit'), 'AllowWithShadowDeny'],
    ],
    { labels: ZONE },
  ),
  mtp('a-deny-orders', service('backend'), [[service('orders'), 'Deny']], {
    labels: { 'kuma.io/effect': 'shadow', ...ZONE },
  }),
);

/** A policy file whose name is markup: the console must show it as text. */
export const MARKUP_FILE_NAME = '<img src=x class=injected>.yaml';

export const MARKUP_POLICY = mtpYaml(mtp('markup-file', service('markup'), [[mesh(), 'Allow']]));
