export * from './options';
export * from './signature';
