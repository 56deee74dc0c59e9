// Known-answer vectors for wa-media's key expansion, produced by Baileys 7 (`baileys`):
// for every media type Baileys derives keys for, its HKDF info (`hkdfInfoKey`) and the
// iv / cipherKey / macKey `getMediaKeys` expands a few seeded media keys to.
// Writes crates/wa-media/tests/vectors/media-keys.json. Deterministic. Run from interop/: node gen-media.mjs
import { writeFileSync, mkdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const { MEDIA_HKDF_KEY_MAPPING, hkdfInfoKey, getMediaKeys } = await import('baileys');

const outDir = path.join(here, '../crates/wa-media/tests/vectors');
mkdirSync(outDir, { recursive: true });

// Media keys: SHA-256 of a label, so the file says where each key came from.
const mediaKeys = ['media key 0', 'media key 1', 'media key 2'].map((label) =>
  createHash('sha256').update(label).digest(),
);

const vectors = [];
for (const [type, name] of Object.entries(MEDIA_HKDF_KEY_MAPPING)) {
  // An empty name ('ppic', 'product-catalog-image') marks media that is not encrypted.
  if (name === '') continue;
  for (const mediaKey of mediaKeys) {
    const keys = await getMediaKeys(mediaKey, type);
    vectors.push({
      type,
      info: hkdfInfoKey(type),
      media_key: mediaKey.toString('hex'),
      iv: Buffer.from(keys.iv).toString('hex'),
      cipher_key: Buffer.from(keys.cipherKey).toString('hex'),
      mac_key: Buffer.from(keys.macKey).toString('hex'),
    });
  }
}

const file = path.join(outDir, 'media-keys.json');
writeFileSync(file, JSON.stringify({ generator: 'baileys 7 getMediaKeys', vectors }, null, 1) + '\n');
console.log(`wrote ${vectors.length} vectors to ${path.relative(process.cwd(), file)}`);
