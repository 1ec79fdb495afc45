package bot

import (
	"fmt"
	"strings"
)

// Languages the bot speaks; the first is the fallback.
var languages = []string{"en", "ru"}

// catalogue holds every user-facing string, per language. Keys missing in
// a language fail TestCatalogueComplete; placeholders are fmt verbs and
// must match across languages.
var catalogue = map[string]map[string]string{
	"en": {
		"lang.name": "English",

		"start": "Hi! I am Cocoon: confidential AI answers. Your question runs on GPU machines that prove " +
			"(Intel TDX) they run in a confidential VM, so nobody on the way can read it.\n\n" +
			"Just write your question. I remember the conversation; /reset starts a new one, " +
			"and replying to one of my earlier answers continues from there.\n\n" +
			"/model chooses the model, /settings the language and a system prompt, /stop stops an answer, /help lists everything.",
		"help": "Write a question and I answer it, streaming. In groups, mention me or reply to me.\n\n" +
			"/model – choose the model\n/reset – new conversation\n/stop – stop the current answer\n" +
			"/settings – language, system prompt\n/balance, /topup, /usage – your credit\n" +
			"/verify – the receipt of the last answer\n/apikey – API access",

		"cmd.start":    "What this bot is and how to use it",
		"cmd.help":     "All commands",
		"cmd.model":    "Choose the model",
		"cmd.reset":    "Start a new conversation",
		"cmd.stop":     "Stop the current answer",
		"cmd.settings": "Language and system prompt",
		"cmd.balance":  "Your balance",
		"cmd.topup":    "Add credit",
		"cmd.usage":    "What you have used",
		"cmd.verify":   "Receipt of the last answer",
		"cmd.apikey":   "API key for developers",
		"cmd.pool":     "Admin: live workers",
		"cmd.stats":    "Admin: bot statistics",
		"cmd.ban":      "Admin: ban a user",
		"cmd.unban":    "Admin: unban a user",
		"cmd.price":    "Admin: model prices",

		"non_text":          "I can only read text for now. Please write your question as a message.",
		"empty":             "Please write your question as a text message.",
		"rate_limited":      "You are sending messages too fast: at most %d a minute. Please wait %d seconds.",
		"still_answering":   "I am still answering your previous message. Wait for it or /stop it.",
		"busy":              "The network is busy right now. Please try again in a minute.",
		"unavailable":       "The service is temporarily unavailable. Please try again in a minute.",
		"model_unavailable": "The model %s is temporarily unavailable. Try again later or choose another with /model.",
		"failed":            "The answer failed after several attempts. Please try again.",
		"too_long":          "Your message is too long: %d bytes; the limit is %d. Please shorten it.",
		"insufficient":      "Your balance is too low for this answer. /topup adds credit.",
		"internal":          "Something went wrong on our side (reference %s). Please try again.",
		"stopped":           "stopped",
		"interrupted":       "interrupted: the bot is restarting, please ask again",
		"queued":            "You are %s in line…",
		"footer.tokens":     "%d → %d tokens",
		"not_attested":      "not attested",
		"attested":          "attested (TDX)",
		"empty_answer":      "(the model returned an empty answer)",

		"reset_done":        "New conversation started.",
		"stop_none":         "There is no answer to stop.",
		"model_choose":      "Choose a model. Now: %s",
		"model_none":        "No model is being served right now. Please try again later.",
		"model_set":         "Model set: %s",
		"model_set_group":   "Model for this group set: %s",
		"button_stale":      "This button has expired. Send the command again.",
		"settings":          "Settings\nLanguage: %s\nModel: %s\nSystem prompt: %s\n\nSet a system prompt: /settings prompt <text>\nRemove it: /settings prompt -",
		"settings_group":    "Settings of this group\nLanguage: %s\nModel: %s\nSystem prompt: %s\n\nGroup admins: /settings prompt <text>, /settings prompt -",
		"settings_usage":    "Usage: /settings, /settings lang en|ru, /settings prompt <text>, /settings prompt -",
		"lang_set":          "Language: English",
		"prompt_set":        "System prompt set.",
		"prompt_cleared":    "System prompt removed.",
		"prompt_too_long":   "That system prompt is too long: the limit is %d bytes.",
		"none":              "none",
		"model_default":     "default",
		"admins_only":       "Only this group's admins can change its settings.",
		"unknown_command":   "Unknown command. /help lists what I can do.",
		"coming_soon":       "Coming soon.",
		"btn.clear_prompt":  "Remove system prompt",
		"pool_empty":        "No live workers.",
		"pool_unknown":      "The pool cannot be listed right now.",
		"stats":             "Updates: %s\nPrompts: %s\nAnswers: %s\nFailures: %s\nUsers: %d\nAnswering now: %d",
		"ban_usage":         "Usage: /ban <user id>, or reply /ban to a message. /unban <user id> lifts it.",
		"banned_done":       "User %d is banned.",
		"unbanned_done":     "User %d is no longer banned.",
		"admin_unavailable": "That failed: %s",
	},
	"ru": {
		"lang.name": "Русский",

		"start": "Привет! Я Cocoon: конфиденциальные ответы ИИ. Ваш вопрос обрабатывают GPU-машины, которые доказывают " +
			"(Intel TDX), что работают в конфиденциальной виртуальной машине, поэтому по пути его никто не прочитает.\n\n" +
			"Просто напишите вопрос. Я помню разговор; /reset начинает новый, " +
			"а ответ на одно из моих прежних сообщений продолжает разговор с того места.\n\n" +
			"/model выбирает модель, /settings — язык и системный промпт, /stop останавливает ответ, /help — все команды.",
		"help": "Напишите вопрос — я отвечу по мере генерации. В группах упомяните меня или ответьте на моё сообщение.\n\n" +
			"/model — выбрать модель\n/reset — новый разговор\n/stop — остановить ответ\n" +
			"/settings — язык, системный промпт\n/balance, /topup, /usage — ваш баланс\n" +
			"/verify — квитанция последнего ответа\n/apikey — доступ через API",

		"cmd.start":    "Что это за бот и как им пользоваться",
		"cmd.help":     "Все команды",
		"cmd.model":    "Выбрать модель",
		"cmd.reset":    "Начать новый разговор",
		"cmd.stop":     "Остановить текущий ответ",
		"cmd.settings": "Язык и системный промпт",
		"cmd.balance":  "Ваш баланс",
		"cmd.topup":    "Пополнить баланс",
		"cmd.usage":    "Сколько израсходовано",
		"cmd.verify":   "Квитанция последнего ответа",
		"cmd.apikey":   "API-ключ для разработчиков",
		"cmd.pool":     "Админ: живые воркеры",
		"cmd.stats":    "Админ: статистика бота",
		"cmd.ban":      "Админ: заблокировать пользователя",
		"cmd.unban":    "Админ: разблокировать пользователя",
		"cmd.price":    "Админ: цены моделей",

		"non_text":          "Пока я понимаю только текст. Напишите вопрос сообщением.",
		"empty":             "Напишите вопрос текстовым сообщением.",
		"rate_limited":      "Слишком много сообщений: не больше %d в минуту. Подождите %d с.",
		"still_answering":   "Я ещё отвечаю на предыдущее сообщение. Подождите или остановите ответ: /stop.",
		"busy":              "Сеть сейчас перегружена. Попробуйте через минуту.",
		"unavailable":       "Сервис временно недоступен. Попробуйте через минуту.",
		"model_unavailable": "Модель %s временно недоступна. Попробуйте позже или выберите другую: /model.",
		"failed":            "Не удалось получить ответ после нескольких попыток. Попробуйте ещё раз.",
		"too_long":          "Сообщение слишком длинное: %d байт, предел %d. Сократите его, пожалуйста.",
		"insufficient":      "Недостаточно средств для этого ответа. Пополнить: /topup.",
		"internal":          "У нас что-то пошло не так (код %s). Попробуйте ещё раз.",
		"stopped":           "остановлено",
		"interrupted":       "прервано: бот перезапускается, спросите ещё раз",
		"queued":            "Вы %s в очереди…",
		"footer.tokens":     "%d → %d токенов",
		"not_attested":      "без аттестации",
		"attested":          "аттестовано (TDX)",
		"empty_answer":      "(модель вернула пустой ответ)",

		"reset_done":        "Начат новый разговор.",
		"stop_none":         "Сейчас нечего останавливать.",
		"model_choose":      "Выберите модель. Сейчас: %s",
		"model_none":        "Сейчас ни одна модель не обслуживается. Попробуйте позже.",
		"model_set":         "Модель: %s",
		"model_set_group":   "Модель этой группы: %s",
		"button_stale":      "Эта кнопка устарела. Отправьте команду ещё раз.",
		"settings":          "Настройки\nЯзык: %s\nМодель: %s\nСистемный промпт: %s\n\nЗадать системный промпт: /settings prompt <текст>\nУбрать: /settings prompt -",
		"settings_group":    "Настройки группы\nЯзык: %s\nМодель: %s\nСистемный промпт: %s\n\nАдминистраторы группы: /settings prompt <текст>, /settings prompt -",
		"settings_usage":    "Использование: /settings, /settings lang en|ru, /settings prompt <текст>, /settings prompt -",
		"lang_set":          "Язык: русский",
		"prompt_set":        "Системный промпт задан.",
		"prompt_cleared":    "Системный промпт убран.",
		"prompt_too_long":   "Системный промпт слишком длинный: предел %d байт.",
		"none":              "нет",
		"model_default":     "по умолчанию",
		"admins_only":       "Настройки группы могут менять только её администраторы.",
		"unknown_command":   "Неизвестная команда. Список команд: /help.",
		"coming_soon":       "Скоро будет.",
		"btn.clear_prompt":  "Убрать системный промпт",
		"pool_empty":        "Живых воркеров нет.",
		"pool_unknown":      "Сейчас не удаётся получить список воркеров.",
		"stats":             "Обновлений: %s\nЗапросов: %s\nОтветов: %s\nОшибок: %s\nПользователей: %d\nОтвечаю сейчас: %d",
		"ban_usage":         "Использование: /ban <id пользователя> или /ban ответом на сообщение. /unban <id> снимает блокировку.",
		"banned_done":       "Пользователь %d заблокирован.",
		"unbanned_done":     "Пользователь %d разблокирован.",
		"admin_unavailable": "Не получилось: %s",
	},
}

// T returns the catalogue string key in lang (falling back to English),
// formatted with args.
func T(lang, key string, args ...any) string {
	s, ok := catalogue[lang][key]
	if !ok {
		s, ok = catalogue[languages[0]][key]
	}
	if !ok {
		return key
	}
	if len(args) == 0 {
		return s
	}
	return fmt.Sprintf(s, args...)
}

// langOf maps a Telegram language_code (or a setting) to a language the
// bot speaks.
func langOf(code string) string {
	code = strings.ToLower(code)
	for _, l := range languages {
		if code == l || strings.HasPrefix(code, l+"-") || strings.HasPrefix(code, l+"_") {
			return l
		}
	}
	return languages[0]
}

// knownLang reports whether the bot speaks l.
func knownLang(l string) bool {
	for _, x := range languages {
		if x == l {
			return true
		}
	}
	return false
}

// ordinal writes n as an ordinal ("3rd", "3-й").
func ordinal(lang string, n int) string {
	if lang == "ru" {
		return fmt.Sprintf("%d-й", n)
	}
	suffix := "th"
	switch {
	case n%100 >= 11 && n%100 <= 13:
	case n%10 == 1:
		suffix = "st"
	case n%10 == 2:
		suffix = "nd"
	case n%10 == 3:
		suffix = "rd"
	}
	return fmt.Sprintf("%d%s", n, suffix)
}
