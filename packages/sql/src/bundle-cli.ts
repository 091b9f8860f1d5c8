// Prints the install script: `node dist/bundle-cli.js > pgferry.sql`.
import { bundleSql } from './bundle.js';

process.stdout.write(bundleSql());
