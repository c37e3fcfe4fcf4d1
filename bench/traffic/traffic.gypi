# gyp include: the banana-traffic test/benchmark traffic tool.
# Include it from dataplane/binding.gyp:  'includes': ['../bench/traffic/traffic.gypi']
# Source paths are relative to this file (gyp resolves them that way).
# The binary lands in dataplane/build/Release/banana-traffic.
{
  'targets': [
    {
      'target_name': 'banana-traffic',
      'type': 'executable',
      'sources': [
        'main.c',
        'common.c',
        'send.c',
        'recv.c',
        'rtt.c',
        'stats.c',
        'xdp.c',
      ],
      'cflags': ['-std=c11', '-O2', '-Wall', '-Wextra', '-Werror'],
    },
  ],
}
