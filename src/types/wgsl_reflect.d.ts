// wgsl_reflect's "main" is a CommonJS build inside a "type": "module" package, which Node cannot
// import; we import its ES module build by path, and give that path the package's own types.
declare module 'wgsl_reflect/wgsl_reflect.module.js' {
  export * from 'wgsl_reflect';
}
