// esbuild options shared by the library build and the browser example.

/** Node builds leave every npm dependency external: they resolve from node_modules at run time. */
export const nodeBuild = { bundle: true, format: 'esm', platform: 'node', target: 'node20', packages: 'external', sourcemap: true, logLevel: 'warning' };

/** Browser builds are self-contained ES modules. */
export const browserBuild = { bundle: true, format: 'esm', platform: 'browser', target: 'es2022', sourcemap: true, logLevel: 'warning' };
