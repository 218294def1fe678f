// Reference pump board rev A: a Raspberry Pi Pico (RP2040, 2 MB flash) on the
// pump carrier. Same flash split as the Pico: 1408 KB of LittleFS for /data,
// the rest for the firmware image with the pump modules frozen in.
#define MICROPY_HW_BOARD_NAME                   "Reference pump board rev A (RP2040)"
#define MICROPY_HW_FLASH_STORAGE_BYTES          (1408 * 1024)
