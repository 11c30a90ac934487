"""The aiohttp application: one thin handler per endpoint — decode, call the store, encode."""
