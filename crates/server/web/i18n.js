// The page's words in English and Simplified Chinese. The browser's
// language picks one (zh* → Chinese); the switch in the page overrides it
// and is remembered. Accessible names are translated with the rest; the
// tests use the English ones.

const STRINGS = {
  en: {
    title: "ferry chat",
    tagline: "Chat with your friends",
    nickname: "Nickname",
    password: "Password",
    login: "Log in",
    stay: "Stay logged in on this browser",
    sessionEnded: "You were logged out. Log in again.",
    sessions: "Logged-in browsers",
    thisBrowser: "this one",
    since: "since {when}",
    revoke: "Log out",
    revokeNamed: "Log out {name}",
    exportData: "Export my data",
    displayName: "Display name",
    save: "Save",
    recall: "Recall",
    recallNamed: "Recall “{text}”",
    recalled: "This message was recalled.",
    exportNeedsStay: "Log in with “Stay logged in” to export your data.",
    exportFailed: "Could not export your data now. Try again later.",
    register: "Register",
    logout: "Log out",
    language: "中文",
    languageName: "Switch to Chinese",
    wrongPassword: "Wrong nickname or password.",
    suspended: "This account is suspended.",
    taken: "That name is taken. Choose another, or log in.",
    weak: "That password is too weak: use at least 8 characters, no spaces.",
    badname: "That name cannot be used: letters, digits and - _ [ ] { } | only, not starting with a digit.",
    throttled: "Too many registrations from here just now. Try again later.",
    registerFailed: "Could not register now. Try again later.",
    nosasl: "This server does not take logins.",
    refused: "The server refused the connection: {reason}",
    needBoth: "Enter a nickname and a password.",
    connecting: "Connecting…",
    online: "Connected",
    reconnecting: "Connection lost. Reconnecting in {s} s…",
    conversations: "Conversations",
    friends: "Friends",
    friendRequests: "Friend requests",
    addFriend: "Add a friend",
    addFriendButton: "Add",
    removeFriend: "Remove {nick} from friends",
    accept: "Accept",
    ignore: "Ignore",
    wantsToTalk: "{nick} wants to message you",
    friendsOnly: "Friends only: others must ask first",
    joinGroup: "Join or create a group",
    joinButton: "Join",
    leave: "Leave",
    members: "Members",
    message: "Message",
    send: "Send",
    reply: "Reply",
    react: "React with 👍",
    replyingTo: "Replying to {nick}: {text}",
    cancelReply: "Cancel reply",
    noConversation: "Pick a conversation, add a friend, or join a group.",
    typing: "{who} is typing…",
    typingMany: "Several people are typing…",
    unsent: "not sent yet",
    askedFriend: "not delivered: {nick} takes messages from friends only, and was asked to accept you",
    loadOlder: "Load older messages",
    noMore: "Beginning of the conversation",
    online_: "online",
    offline_: "offline",
    away_: "away",
    back: "Back",
    topic: "Topic",
    notifyTitle: "{from} on ferry",
    unread: "{n} unread",
    you: "you",
    chatWith: "Chat with {nick}",
    welcome: "Welcome, {nick}!",
  },
  zh: {
    title: "ferry 聊天",
    tagline: "和朋友聊天",
    nickname: "昵称",
    password: "密码",
    login: "登录",
    stay: "在此浏览器上保持登录",
    sessionEnded: "你已退出登录，请重新登录。",
    sessions: "已登录的浏览器",
    thisBrowser: "本浏览器",
    since: "自 {when}",
    revoke: "退出",
    revokeNamed: "让 {name} 退出登录",
    exportData: "导出我的数据",
    displayName: "昵称（显示名）",
    save: "保存",
    recall: "撤回",
    recallNamed: "撤回“{text}”",
    recalled: "此消息已撤回。",
    exportNeedsStay: "请勾选“在此浏览器保持登录”后登录，再导出数据。",
    exportFailed: "暂时无法导出数据，请稍后再试。",
    register: "注册",
    logout: "退出登录",
    language: "English",
    languageName: "切换到英文",
    wrongPassword: "昵称或密码错误。",
    suspended: "此账号已被停用。",
    taken: "这个名字已被占用。请换一个，或直接登录。",
    weak: "密码太弱：至少 8 个字符，不能有空格。",
    badname: "不能使用这个名字：只能用字母、数字和 - _ [ ] { } |，且不能以数字开头。",
    throttled: "此处刚才注册太多次了，请稍后再试。",
    registerFailed: "暂时无法注册，请稍后再试。",
    nosasl: "此服务器不接受登录。",
    refused: "服务器拒绝了连接：{reason}",
    needBoth: "请输入昵称和密码。",
    connecting: "正在连接…",
    online: "已连接",
    reconnecting: "连接已断开，{s} 秒后重新连接…",
    conversations: "会话",
    friends: "好友",
    friendRequests: "好友请求",
    addFriend: "添加好友",
    addFriendButton: "添加",
    removeFriend: "删除好友 {nick}",
    accept: "接受",
    ignore: "忽略",
    wantsToTalk: "{nick} 想给你发消息",
    friendsOnly: "只有好友可以给我发消息",
    joinGroup: "加入或创建群组",
    joinButton: "加入",
    leave: "退出群组",
    members: "成员",
    message: "消息",
    send: "发送",
    reply: "回复",
    react: "点赞 👍",
    replyingTo: "回复 {nick}：{text}",
    cancelReply: "取消回复",
    noConversation: "选择一个会话、添加好友，或加入群组。",
    typing: "{who} 正在输入…",
    typingMany: "多人正在输入…",
    unsent: "尚未发送",
    askedFriend: "未送达：{nick} 只接收好友的消息，已请对方接受你",
    loadOlder: "加载更早的消息",
    noMore: "会话开始",
    online_: "在线",
    offline_: "离线",
    away_: "离开",
    back: "返回",
    topic: "主题",
    notifyTitle: "{from}（ferry）",
    unread: "{n} 条未读",
    you: "你",
    chatWith: "和 {nick} 聊天",
    welcome: "欢迎，{nick}！",
  },
};

let lang = pick();

function pick() {
  try {
    const saved = localStorage.getItem("ferry.lang");
    if (saved === "en" || saved === "zh") return saved;
  } catch (_) {}
  const langs = navigator.languages?.length ? navigator.languages : [navigator.language || "en"];
  for (const l of langs) {
    const t = l.toLowerCase();
    if (t.startsWith("zh")) return "zh";
    if (t.startsWith("en")) return "en";
  }
  return "en";
}

export function language() {
  return lang;
}

export function setLanguage(l) {
  lang = l === "zh" ? "zh" : "en";
  try {
    localStorage.setItem("ferry.lang", lang);
  } catch (_) {}
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
}

/** The text for `key`, with `{name}` filled from `vars`. */
export function t(key, vars = {}) {
  const s = STRINGS[lang][key] ?? STRINGS.en[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => (vars[k] ?? "").toString());
}
