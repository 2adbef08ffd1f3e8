/**
 * Imports an optional peer package (a broker, the Socket.IO transport), turning "not installed" into a `TypeError`
 * that says what to install.
 */
export async function importOptional<T>(load: () => Promise<T>, name: string, feature: string): Promise<T> {
  try {
    return await load();
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (
      (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') &&
      String((error as Error).message).includes(name)
    ) {
      throw new TypeError(`${feature} needs the ${name} package, which is not installed: pnpm add ${name}`, {
        cause: error,
      });
    }
    throw error;
  }
}
