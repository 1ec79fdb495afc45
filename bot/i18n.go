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
		"btn.clear_prompt":  "Remove system prompt",
		"pool_empty":        "No live workers.",
		"pool_unknown":      "The pool cannot be listed right now.",
		"stats":             "Updates: %s\nPrompts: %s\nAnswers: %s\nFailures: %s\nUsers: %d\nAnswering now: %d",
		"ban_usage":         "Usage: /ban <user id>, or reply /ban to a message. /unban <user id> lifts it.",
		"banned_done":       "User %d is banned.",
		"unbanned_done":     "User %d is no longer banned.",
		"admin_unavailable": "That failed: %s",

		"cmd.refund":              "Admin: refund a Stars payment",
		"private_only":            "I answer that in a private chat only: write to me at %s.",
		"billing_off":             "Billing is off on this network: answers are free.",
		"balance":                 "Balance: %s\nReserved for answers in progress: %s",
		"balance_charges":         "Last charges:",
		"balance_hint":            "/topup adds credit · /usage shows what you used",
		"usage_none":              "No usage in the last 30 days.",
		"usage_total":             "Usage, last 30 days: %s",
		"usage_title":             "Per day and model (UTC):",
		"usage_row":               "answers: %d, %s, %s",
		"topup_ton":               "Top up with TON\n\nSend TON to:\n%s\n\nMemo (required: without it the transfer cannot be matched to you):\n%s\n\nOr open this link in any TON wallet, Telegram's included:\n%s",
		"topup_stars":             "Or pay with Telegram Stars (1 ⭐ = %s):",
		"btn.stars":               "%d ⭐ → %s",
		"insufficient_balance":    "Your balance (%s) is too low for this answer. /topup adds credit.",
		"insufficient_need":       "Your balance (%s) does not cover this answer (up to %s). /topup adds credit.",
		"price_none":              "No prices are configured (COCOON_PRICES).",
		"price_title":             "Prices in TON per 1K tokens (prompt / completion); they change with COCOON_PRICES and a restart:",
		"price_row":               "%s / %s",
		"verify_none":             "There is no answer to verify in this chat yet.",
		"verify_title":            "Receipts of the last answer\nModel %s · job %s\nOverall: %s",
		"verify_no_receipts":      "This answer has no receipts: it is unverified.",
		"verify_segment":          "Segment",
		"verify_ok":               "receipt verified",
		"verify_bad":              "not verified: %s",
		"verify_attested_tdx":     "attested (TDX)",
		"verify_not_attested_dev": "not attested (insecure-dev)",
		"verify_model":            "model",
		"verify_digest":           "digest",
		"verify_worker":           "worker",
		"verify_how":              "Checked by this bot when the answer arrived: each worker's signature, the request and text hashes, the model digest and, for TDX workers, the quote and measurements it verified before sealing your prompt to them.",
		"invoice_title":           "Cocoon credit",
		"invoice_desc":            "%d Stars of credit for confidential AI answers: %s added to your balance.",
		"invoice_label":           "%d ⭐ credit",
		"precheckout_refused":     "This invoice is no longer valid. Please use /topup again.",
		"payment_credited":        "Thank you! %d ⭐ received: %s added. Balance: %s.",
		"payment_duplicate":       "This payment (%s) was already credited; nothing was added again.",
		"payment_delayed":         "Thank you! %d ⭐ received. Crediting is delayed; it will be added automatically and I will tell you.",
		"payment_failed":          "Your payment arrived but could not be credited (reference %s). An admin will sort it out; nothing is lost.",
		"refund_usage":            "Usage: /refund <user id> <telegram payment charge id>",
		"refund_failed":           "Refund not done: %s",
		"refund_done":             "Refunded payment %s to user %d. %s",
		"refund_credit":           "It had credited %d ⭐ = %s to tg:%d; the ledger was debited as much.",
		"refund_unknown_credit":   "This bot has no record of crediting it; the ledger was not touched.",
		"apikey_private":          "API keys are created in a private chat only, so the key is never shown to a group: send /apikey new to %s.",
		"apikey_unavailable":      "API keys are not available on this bot.",
		"apikey_none":             "You have no API keys. /apikey new creates one.",
		"apikey_list":             "Your API keys:",
		"apikey_active":           "active",
		"apikey_revoked":          "revoked %s",
		"apikey_created":          "created %s",
		"apikey_usage":            "/apikey new creates a key · /apikey revoke <id> revokes one. Jobs sent with a key are billed to your balance.",
		"apikey_too_many":         "You have too many active keys. Revoke one first: /apikey revoke <id>.",
		"apikey_created_once":     "New API key %s. It is shown this once only; keep it secret:\n\n%s\n\nUse it as the Bearer token of the OpenAI-compatible API. /apikey revoke <id> revokes it.",
		"apikey_unknown":          "You have no key with that id. /apikey lists your keys.",
		"apikey_revoked_done":     "Key %s is revoked.",
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
		"btn.clear_prompt":  "Убрать системный промпт",
		"pool_empty":        "Живых воркеров нет.",
		"pool_unknown":      "Сейчас не удаётся получить список воркеров.",
		"stats":             "Обновлений: %s\nЗапросов: %s\nОтветов: %s\nОшибок: %s\nПользователей: %d\nОтвечаю сейчас: %d",
		"ban_usage":         "Использование: /ban <id пользователя> или /ban ответом на сообщение. /unban <id> снимает блокировку.",
		"banned_done":       "Пользователь %d заблокирован.",
		"unbanned_done":     "Пользователь %d разблокирован.",
		"admin_unavailable": "Не получилось: %s",

		"cmd.refund":              "Админ: вернуть платёж в Stars",
		"private_only":            "Это я показываю только в личном чате: напишите мне %s.",
		"billing_off":             "Оплата в этой сети выключена: ответы бесплатны.",
		"balance":                 "Баланс: %s\nЗарезервировано под идущие ответы: %s",
		"balance_charges":         "Последние списания:",
		"balance_hint":            "/topup — пополнить · /usage — расход",
		"usage_none":              "За последние 30 дней расхода нет.",
		"usage_total":             "Расход за 30 дней: %s",
		"usage_title":             "По дням и моделям (UTC):",
		"usage_row":               "ответов: %d, %s, %s",
		"topup_ton":               "Пополнение в TON\n\nОтправьте TON на адрес:\n%s\n\nКомментарий (обязателен: без него перевод не связать с вами):\n%s\n\nИли откройте ссылку в любом TON-кошельке, в том числе в Telegram:\n%s",
		"topup_stars":             "Или оплатите звёздами Telegram (1 ⭐ = %s):",
		"btn.stars":               "%d ⭐ → %s",
		"insufficient_balance":    "На балансе (%s) недостаточно средств для этого ответа. Пополнить: /topup.",
		"insufficient_need":       "Баланса (%s) не хватает на этот ответ (до %s). Пополнить: /topup.",
		"price_none":              "Цены не заданы (COCOON_PRICES).",
		"price_title":             "Цены в TON за 1K токенов (запрос / ответ); меняются через COCOON_PRICES и перезапуск:",
		"price_row":               "%s / %s",
		"verify_none":             "В этом чате пока нет ответа для проверки.",
		"verify_title":            "Квитанции последнего ответа\nМодель %s · задача %s\nИтог: %s",
		"verify_no_receipts":      "У этого ответа нет квитанций: он не проверен.",
		"verify_segment":          "Сегмент",
		"verify_ok":               "квитанция проверена",
		"verify_bad":              "не проверено: %s",
		"verify_attested_tdx":     "аттестовано (TDX)",
		"verify_not_attested_dev": "без аттестации (insecure-dev)",
		"verify_model":            "модель",
		"verify_digest":           "дайджест",
		"verify_worker":           "воркер",
		"verify_how":              "Проверено ботом при получении ответа: подпись каждого воркера, хэши запроса и текста, дайджест модели, а для TDX-воркеров — квота и измерения, которые бот проверил, прежде чем зашифровать для них ваш запрос.",
		"invoice_title":           "Пополнение Cocoon",
		"invoice_desc":            "%d звёзд на конфиденциальные ответы ИИ: на баланс поступит %s.",
		"invoice_label":           "%d ⭐ на баланс",
		"precheckout_refused":     "Этот счёт больше не действителен. Откройте /topup ещё раз.",
		"payment_credited":        "Спасибо! Получено %d ⭐: зачислено %s. Баланс: %s.",
		"payment_duplicate":       "Этот платёж (%s) уже зачислен; повторно ничего не добавлено.",
		"payment_delayed":         "Спасибо! Получено %d ⭐. Зачисление задерживается; оно пройдёт автоматически, я сообщу.",
		"payment_failed":          "Платёж получен, но зачислить его не удалось (код %s). Администратор разберётся; ничего не потеряно.",
		"refund_usage":            "Использование: /refund <id пользователя> <telegram payment charge id>",
		"refund_failed":           "Возврат не выполнен: %s",
		"refund_done":             "Платёж %s возвращён пользователю %d. %s",
		"refund_credit":           "По нему было зачислено %d ⭐ = %s на tg:%d; столько же списано в реестре.",
		"refund_unknown_credit":   "У бота нет записи о его зачислении; реестр не затронут.",
		"apikey_private":          "API-ключи создаются только в личном чате, чтобы ключ не увидела группа: отправьте /apikey new боту %s.",
		"apikey_unavailable":      "API-ключи в этом боте недоступны.",
		"apikey_none":             "У вас нет API-ключей. Создать: /apikey new.",
		"apikey_list":             "Ваши API-ключи:",
		"apikey_active":           "действует",
		"apikey_revoked":          "отозван %s",
		"apikey_created":          "создан %s",
		"apikey_usage":            "/apikey new — создать ключ · /apikey revoke <id> — отозвать. Запросы по ключу оплачиваются с вашего баланса.",
		"apikey_too_many":         "Слишком много действующих ключей. Сначала отзовите один: /apikey revoke <id>.",
		"apikey_created_once":     "Новый API-ключ %s. Он показывается только сейчас; храните его в секрете:\n\n%s\n\nИспользуйте его как Bearer-токен OpenAI-совместимого API. Отозвать: /apikey revoke <id>.",
		"apikey_unknown":          "У вас нет ключа с таким id. Список: /apikey.",
		"apikey_revoked_done":     "Ключ %s отозван.",
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
