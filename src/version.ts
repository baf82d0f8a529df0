// Kept equal to package.json's version by a unit test; a constant survives bundling where reading package.json would not.
export const VERSION = "0.1.0";
