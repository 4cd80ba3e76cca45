#!/usr/bin/env node
// Run the Khronos glTF validator on one or more .glb/.gltf files and print one compact
// JSON report per file, one per line (JSON Lines), in argument order.
//
//   node tests/support/validate_gltf.mjs [--warnings] FILE [FILE...]
//
// Exit status: 0 every file has zero errors, 1 at least one file has errors,
// 2 bad usage, 3 the gltf-validator package is not installed (run `npm ci` at the repo root).
// A file the validator cannot even parse (missing, not glTF at all) is reported as an error
// with code VALIDATOR_REJECTED or FILE_UNREADABLE, so callers only ever look at numErrors.

import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

// Fields of report.info worth keeping: they let tests compare counts with what a job claims.
const INFO_KEYS = [
  'generator', 'drawCallCount', 'totalVertexCount', 'totalTriangleCount', 'materialCount',
  'hasTextures', 'hasSkins', 'hasMorphTargets', 'animationCount', 'maxUVs', 'maxInfluences',
  'maxAttributes',
];
const SEVERITY_ERROR = 0;
const SEVERITY_WARNING = 1;

function compactMessage(m) {
  const out = { code: m.code, message: m.message };
  if (m.pointer !== undefined) out.pointer = m.pointer;
  if (m.offset !== undefined) out.offset = m.offset;
  return out;
}

function failure(path, code, message) {
  return { path, numErrors: 1, numWarnings: 0, errors: [{ code, message }], info: {} };
}

async function validateFile(validator, path, withWarnings) {
  let bytes;
  try {
    bytes = new Uint8Array(await readFile(path));
  } catch (err) {
    return failure(path, 'FILE_UNREADABLE', String(err && err.message ? err.message : err));
  }
  let report;
  try {
    // maxIssues 0 = unlimited, so an error is never hidden behind a flood of hints.
    // A .gltf names its .bin and images by URI, relative to the .gltf file.
    const externalResourceFunction = (uri) =>
      readFile(resolve(dirname(path), decodeURIComponent(uri))).then((b) => new Uint8Array(b));
    report = await validator.validateBytes(bytes, {
      uri: path, writeTimestamp: false, maxIssues: 0, externalResourceFunction,
    });
  } catch (err) {
    // The promise rejects when the bytes are not recognisable glTF/GLB at all.
    return failure(path, 'VALIDATOR_REJECTED', String(err));
  }
  const messages = report.issues.messages || [];
  const result = {
    path,
    numErrors: report.issues.numErrors,
    numWarnings: report.issues.numWarnings,
    errors: messages.filter((m) => m.severity === SEVERITY_ERROR).map(compactMessage),
    info: {},
  };
  if (withWarnings) {
    result.warnings = messages.filter((m) => m.severity === SEVERITY_WARNING).map(compactMessage);
  }
  for (const key of INFO_KEYS) {
    if (report.info && report.info[key] !== undefined) result.info[key] = report.info[key];
  }
  result.validatorVersion = report.validatorVersion;
  return result;
}

async function main() {
  const args = process.argv.slice(2);
  const withWarnings = args.includes('--warnings');
  const paths = args.filter((a) => a !== '--warnings');
  if (paths.length === 0) {
    process.stderr.write('usage: node validate_gltf.mjs [--warnings] FILE [FILE...]\n');
    return 2;
  }
  let validator;
  try {
    // Resolved from the repo-root node_modules (package.json pins the exact version).
    validator = await import('gltf-validator');
  } catch (err) {
    process.stderr.write(
      `gltf-validator is not installed (${err.code || err}); run \`npm ci\` in the repository root.\n`,
    );
    return 3;
  }
  // CommonJS package imported from ESM: its functions live on the default export.
  const api = validator.validateBytes ? validator : validator.default;
  let anyErrors = false;
  for (const path of paths) {
    const result = await validateFile(api, path, withWarnings);
    anyErrors ||= result.numErrors > 0;
    process.stdout.write(JSON.stringify(result) + '\n');
  }
  return anyErrors ? 1 : 0;
}

process.exitCode = await main();
