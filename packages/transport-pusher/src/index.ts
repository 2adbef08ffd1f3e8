export * from './options';
export * from './signature';
export * from './rest';
